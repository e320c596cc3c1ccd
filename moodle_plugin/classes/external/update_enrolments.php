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

namespace local_crmsync\external;

use core_external\external_api;
use core_external\external_function_parameters;
use core_external\external_multiple_structure;
use core_external\external_single_structure;
use core_external\external_value;
use core_external\external_warnings;

/**
 * Change the status and dates of existing manual enrolments: local_crmsync_update_enrolments.
 *
 * Core has no web service for this. enrol_manual_enrol_users on an existing enrolment does change it,
 * but it is a create-or-replace: the dates it is not given become 0 (no start, no end), "not
 * suspended" becomes active, it needs a role and assigns it again, it accepts an end before the start,
 * and an enrolment that was removed meanwhile is created again. A CRM suspending a learner or moving
 * an end date needs an update of what it names, of an enrolment that exists, refused when the dates
 * contradict each other.
 *
 * The enrolment changed is the one of the course's first enabled manual enrolment method, the one
 * enrol_manual_enrol_users enrols into. Each enrolment is changed on its own: one that cannot be comes
 * back as a warning, the others are changed. Moodle fires user_enrolment_updated for each change.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class update_enrolments extends external_api {
    /**
     * @return external_function_parameters
     */
    public static function execute_parameters(): external_function_parameters {
        return new external_function_parameters([
            'enrolments' => new external_multiple_structure(new external_single_structure([
                'userid' => new external_value(PARAM_INT, 'The enrolled user'),
                'courseid' => new external_value(PARAM_INT, 'The course'),
                'suspend' => new external_value(PARAM_BOOL, '1: suspended, 0: active; unchanged when absent',
                    VALUE_OPTIONAL),
                'timestart' => new external_value(PARAM_INT, 'Start (unix time, 0: none); unchanged when absent',
                    VALUE_OPTIONAL),
                'timeend' => new external_value(PARAM_INT, 'End (unix time, 0: none); unchanged when absent',
                    VALUE_OPTIONAL),
            ]), 'The enrolments to change, each with only what changes'),
        ]);
    }

    /**
     * @param array $enrolments
     * @return array ['updated' => [userid, courseid, ...], 'warnings' => [...]]
     */
    public static function execute(array $enrolments): array {
        global $DB;
        ['enrolments' => $enrolments] = self::validate_parameters(self::execute_parameters(),
            ['enrolments' => $enrolments]);
        $plugin = enrol_get_plugin('manual');
        $updated = [];
        $warnings = [];
        foreach ($enrolments as $enrolment) {
            $userid = (int) $enrolment['userid'];
            $courseid = (int) $enrolment['courseid'];
            $warn = function(string $code, string $message) use (&$warnings, $userid, $courseid) {
                $warnings[] = ['item' => "enrolment:$userid:$courseid", 'itemid' => $userid, 'warningcode' => $code,
                    'message' => $message];
            };
            if ($courseid === (int) SITEID) {
                $warn('invalidcourse', "Course $courseid is the site's front page, which has no enrolments.");
                continue;
            }
            $context = \context_course::instance($courseid, IGNORE_MISSING);
            if (!$context) {
                $warn('invalidcourse', "There is no course with id $courseid.");
                continue;
            }
            // A role or capability missing for the token's user is the site's configuration, not this
            // enrolment's: it stops the call, as it does in core's enrolment functions.
            self::validate_context($context);
            require_capability('enrol/manual:manage', $context);

            $instance = self::manual_instance($courseid);
            if (!$instance || !$plugin || !$plugin->allow_manage($instance)) {
                $warn('nomanualinstance', "Course $courseid has no enabled manual enrolment method.");
                continue;
            }
            $ue = $DB->get_record('user_enrolments', ['enrolid' => $instance->id, 'userid' => $userid]);
            if (!$ue) {
                $warn('notenrolled', "User $userid has no manual enrolment in course $courseid.");
                continue;
            }
            $timestart = array_key_exists('timestart', $enrolment) ? (int) $enrolment['timestart'] : (int) $ue->timestart;
            $timeend = array_key_exists('timeend', $enrolment) ? (int) $enrolment['timeend'] : (int) $ue->timeend;
            if ($timestart < 0 || $timeend < 0 || ($timeend && $timeend <= $timestart)) {
                $warn('invaliddates', "The enrolment would end ($timeend) before it starts ($timestart): nothing changed.");
                continue;
            }
            $status = array_key_exists('suspend', $enrolment)
                ? ($enrolment['suspend'] ? ENROL_USER_SUSPENDED : ENROL_USER_ACTIVE) : null;
            $plugin->update_user_enrol($instance, $userid, $status, $timestart, $timeend);
            $ue = $DB->get_record('user_enrolments', ['id' => $ue->id], 'status, timestart, timeend', MUST_EXIST);
            $updated[] = ['userid' => $userid, 'courseid' => $courseid, 'suspend' => (int) $ue->status === ENROL_USER_SUSPENDED,
                'timestart' => (int) $ue->timestart, 'timeend' => (int) $ue->timeend];
        }
        return ['updated' => $updated, 'warnings' => $warnings];
    }

    /**
     * @return external_single_structure
     */
    public static function execute_returns(): external_single_structure {
        return new external_single_structure([
            'updated' => new external_multiple_structure(new external_single_structure([
                'userid' => new external_value(PARAM_INT, 'The enrolled user'),
                'courseid' => new external_value(PARAM_INT, 'The course'),
                'suspend' => new external_value(PARAM_BOOL, 'Whether the enrolment is suspended now'),
                'timestart' => new external_value(PARAM_INT, 'Its start now (0: none)'),
                'timeend' => new external_value(PARAM_INT, 'Its end now (0: none)'),
            ]), 'The enrolments as they are after the call (also those the call did not need to change)'),
            'warnings' => new external_warnings('enrolment:<userid>:<courseid>', 'user id',
                'invalidcourse, nomanualinstance, notenrolled or invaliddates'),
        ]);
    }

    /**
     * The course's first enabled manual enrolment method, the one enrol_manual_enrol_users uses.
     *
     * @param int $courseid
     * @return \stdClass|null
     */
    private static function manual_instance(int $courseid): ?\stdClass {
        foreach (enrol_get_instances($courseid, true) as $instance) {
            if ($instance->enrol === 'manual') {
                return $instance;
            }
        }
        return null;
    }
}
