<?php
// Installed as custom/Extension/modules/Schedulers/Ext/ScheduledTasks/crmsync.php: SuiteCRM merges it
// into scheduledtasks.ext.php, which modules/Schedulers/_AddJobsHere.php includes.
$job_strings[] = 'crmsync_deliver_outbox';

if (!function_exists('crmsync_deliver_outbox')) {
    /** Moodle sync: deliver the CRM's changes (the outbox) to the sync's receiver. */
    function crmsync_deliver_outbox($job = null)
    {
        require_once 'custom/crmsync/CrmSyncJob.php';
        $result = CrmSyncJob::run();
        if ($job instanceof SchedulersJob && !$result['ok']) {
            // The job log then says why (receiver down, not configured) instead of a bare failure.
            $job->resolveJob(SchedulersJob::JOB_FAILURE, $result['message']);
        }
        return $result['ok'];
    }
}
