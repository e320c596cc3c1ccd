<?php
// This file is part of Moodle - https://moodle.org/
//
// Moodle is free software: you can redistribute it and/or modify
// it under the terms of the GNU General Public License as published by
// the Free Software Foundation, either version 3 of the License, or
// (at your option) any later version.
//
// Moodle is distributed in the hope that it will be useful,
// but WITHOUT ANY WARRANTY; without even the implied warranty of
// MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
// GNU General Public License for more details.
//
// You should have received a copy of the GNU General Public License
// along with Moodle.  If not, see <https://www.gnu.org/licenses/>.

/**
 * English strings.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

defined('MOODLE_INTERNAL') || die();

$string['pluginname'] = 'CRM sync';
$string['status'] = 'CRM sync delivery status';
$string['statuspage_desc'] = 'Waiting and failed messages, Test connection, Backfill and new signing secrets are on the <a href="{$a}">CRM sync delivery status</a> page (Site administration > Reports), which users with the capability local/crmsync:manage can open too.';
$string['crmsync:manage'] = 'See the CRM sync delivery status and manage its delivery (resend, test, backfill, new signing secret)';
$string['crmsync:webservice'] = 'Use the CRM sync web service (for the CRM sync\'s own web-service user only)';
$string['receiverurl'] = 'Receiver URL';
$string['receiverurl_desc'] = 'The webhook URL of the sync receiver, e.g. https://sync.example.org/webhooks/moodle. Moodle\'s cURL security settings apply: a blocked host is refused.';
$string['secret'] = 'Signing secret';
$string['secret_desc'] = 'The Standard Webhooks secret (whsec_…) shared with the receiver (WEBHOOK_SECRETS there). One is generated at installation; the status page has a button that generates a new one. A new secret, typed here or generated, does not switch at once: the replaced one stays valid for the overlap below.';
$string['secretinvalid'] = 'A signing secret is whsec_ followed by the base64 of at least 16 bytes (as the receiver prints it).';
$string['secretoverlapdays'] = 'Keep a replaced secret valid (days)';
$string['secretoverlapdays_desc'] = 'After a new signing secret, messages are also signed with the replaced one for this many days, so the receiver accepts them until its WEBHOOK_SECRETS has the new one. 0 switches at once.';
$string['eventgroups'] = 'What to send';
$string['eventgroups_desc'] = 'Only events of the ticked groups are recorded and sent; with none ticked, nothing is sent.';
$string['group_users'] = 'Learners';
$string['group_courses'] = 'Courses, with their groups, tutors and learner, attendance and grade summaries';
$string['group_enrolments'] = 'Enrolments, roles and groups';
$string['group_grades'] = 'Grades';
$string['group_completions'] = 'Activity and course completions';
$string['group_access'] = 'Course access';
$string['group_attendance'] = 'Attendance (mod_attendance)';
$string['group_consent'] = 'Data-protection consent (tool_policy)';
$string['learnerroles'] = 'Learner roles';
$string['learnerroles_desc'] = 'The roles whose holders are learners in a course. A backfill sends grades, activity completions and the course completion only for users holding one of these roles in the course (every enrolment and course access is sent, for teachers too). Site admins are never sent by a backfill.';
$string['batchsize'] = 'Batch size';
$string['batchsize_desc'] = 'The most messages taken from the outbox at a time; they go out in requests no larger than the size below.';
$string['maxbatchkb'] = 'Largest request (KiB)';
$string['maxbatchkb_desc'] = 'A batch is cut into requests no larger than this, below the receiver\'s body limit (its MAX_BODY_BYTES, 1024 KiB by default, and nginx\'s client_max_body_size). A single message larger than the receiver accepts is marked failed with the reason.';
$string['retentiondays'] = 'Keep delivered messages (days)';
$string['retentiondays_desc'] = 'Delivered messages are deleted after this many days.';
$string['profilefields'] = 'Custom profile fields to send';
$string['profilefields_desc'] = 'Comma-separated shortnames of custom user profile fields included with each learner.';
$string['taskdeliver'] = 'Deliver CRM sync messages';
$string['taskenrolmentwindows'] = 'Send CRM sync enrolments whose start or end date passed';
$string['urlblocked'] = 'Moodle refused to connect: its cURL security blocks the receiver URL or a redirect from it (Site administration > General > Security > HTTP security: "cURL blocked hosts list" and "cURL allowed ports list"; or a plugin\'s own cURL security check).';
$string['urlblockedhost'] = 'Moodle refused to connect: {$a} is in its "cURL blocked hosts list" (Site administration > General > Security > HTTP security; setting curlsecurityblockedhosts, which blocks private addresses and localhost by default). Remove the entry that matches the receiver\'s address.';
$string['urlblockedport'] = 'Moodle refused to connect: port {$a} is not in its "cURL allowed ports list" (Site administration > General > Security > HTTP security; setting curlsecurityallowedport, 443 and 80 by default). Add {$a} to that list, keeping 443 and 80.';
$string['queuedepth'] = 'Messages waiting';
$string['oldestpending'] = 'Oldest waiting since';
$string['lastsuccess'] = 'Last delivery';
$string['failures'] = 'Failed messages';
$string['nofailures'] = 'No message has failed or waits for a retry.';
$string['colid'] = 'Message';
$string['coltype'] = 'Type';
$string['colsubject'] = 'Subject';
$string['colstatus'] = 'Status';
$string['colattempts'] = 'Attempts';
$string['colerror'] = 'Receiver\'s answer';
$string['colaction'] = 'Action';
$string['status_failed'] = 'Failed: waits for an admin';
$string['status_pending'] = 'Waiting for a retry';
$string['resend'] = 'Resend';
$string['resendall'] = 'Resend all failed';
$string['testconnection'] = 'Test connection';
$string['testresult'] = 'The receiver answered HTTP {$a->status}: {$a->body}';
$string['testrefused'] = 'Nothing was sent. {$a}';
$string['testnoanswer'] = 'Nothing answered at the receiver URL: {$a}. Check that the receiver is running and that this Moodle server can reach its address and port (firewall, proxy).';
$string['noanswer'] = 'no answer';
$string['never'] = 'never';
$string['backfill'] = 'Backfill';
$string['newsecret'] = 'Generate a new signing secret';
$string['newsecretset'] = 'New signing secret: {$a->secret}. Add it to the receiver\'s WEBHOOK_SECRETS (first in the list). Until {$a->until} messages are also signed with the replaced secret, so delivery goes on meanwhile.';
$string['newsecretsetnooverlap'] = 'New signing secret: {$a}. Add it to the receiver\'s WEBHOOK_SECRETS (first in the list) now: until then the receiver refuses the messages, which wait in the outbox.';
$string['newsecretconfirm'] = 'Generate a new signing secret? The receiver must get it (WEBHOOK_SECRETS) before the replaced one stops being valid.';
$string['previoussecretvalid'] = 'Messages are also signed with the replaced signing secret until {$a}: the receiver\'s WEBHOOK_SECRETS must have the new one before then. Test connection signs with the new one only.';
$string['previoussecretuntil'] = 'Replaced signing secret valid until';
$string['previoussecretnone'] = 'none (only the current secret signs)';
$string['backfillqueued'] = 'The backfill is queued: cron sends the current state of every course and its summary, user (not site admins), enrolment, course access, consent, learner\'s grade and completion, and taken attendance session, 500 users per run.';
$string['privacy:metadata:outbox'] = 'Messages about users waiting to be delivered to the CRM sync receiver, kept for a few days after delivery.';
$string['privacy:metadata:outbox:userid'] = 'The user the message is about.';
$string['privacy:metadata:outbox:type'] = 'What happened (e.g. enrolment updated).';
$string['privacy:metadata:outbox:eventdata'] = 'The Moodle event that caused the message.';
$string['privacy:metadata:outbox:snapshot'] = 'The user\'s username and e-mail when the user was deleted.';
$string['privacy:metadata:outbox:timecreated'] = 'When the message was recorded.';
$string['privacy:metadata:receiver'] = 'User data is sent to the CRM sync receiver, which keeps the organisation\'s CRM (SuiteCRM) in step with Moodle.';
$string['privacy:metadata:receiver:username'] = 'The username and ID number.';
$string['privacy:metadata:receiver:fullname'] = 'The name and the contact details of the profile.';
$string['privacy:metadata:receiver:email'] = 'The e-mail address.';
$string['privacy:metadata:receiver:enrolments'] = 'Enrolments, roles, groups and last course access.';
$string['privacy:metadata:receiver:grades'] = 'Grades.';
$string['privacy:metadata:receiver:completions'] = 'Activity and course completions.';
$string['privacy:metadata:receiver:attendance'] = 'Attendance statuses and data-protection consent.';
$string['privacy:metadata:receiver:tutors'] = 'The names of the teachers of each course, shown on the course in the CRM.';
$string['messageprovider:reconciliation'] = 'Differences the CRM sync\'s reconciliation found between Moodle and the CRM';
$string['reconciliationreport'] = 'The reconciliation report';
$string['unknownkind'] = 'There is no kind \'{$a->kind}\' to export: one of {$a->kinds}.';
$string['toomanysubjects'] = 'At most {$a->max} subjects in one call, not {$a->count}.';
$string['emptysubject'] = 'A notification needs a subject.';
