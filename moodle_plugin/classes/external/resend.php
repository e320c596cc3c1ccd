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
use local_crmsync\local\state_export;

/**
 * Fresh messages of chosen subjects, recorded in the outbox as a backfill records them, so they are
 * delivered and ordered by the normal path: local_crmsync_resend (the reconciliation's repair of what
 * Moodle owns; local\state_export::resend says what is taken).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class resend extends external_api {
    /** The most subjects of one call. */
    const MAX_SUBJECTS = 1000;

    /**
     * @return external_function_parameters
     */
    public static function execute_parameters(): external_function_parameters {
        return new external_function_parameters([
            'subjects' => new external_multiple_structure(new external_value(PARAM_RAW, 'A subject, e.g. enrolment:3:2'),
                'At most ' . self::MAX_SUBJECTS . ' subjects'),
        ]);
    }

    /**
     * @param string[] $subjects
     * @return array
     */
    public static function execute(array $subjects): array {
        ['subjects' => $subjects] = self::validate_parameters(self::execute_parameters(), ['subjects' => $subjects]);
        $context = \context_system::instance();
        self::validate_context($context);
        require_capability('local/crmsync:webservice', $context);
        if (count($subjects) > self::MAX_SUBJECTS) {
            throw new \moodle_exception('toomanysubjects', 'local_crmsync', '', (object) ['max' => self::MAX_SUBJECTS,
                'count' => count($subjects)]);
        }
        return state_export::resend($subjects);
    }

    /**
     * @return external_single_structure
     */
    public static function execute_returns(): external_single_structure {
        return new external_single_structure([
            'queued' => new external_value(PARAM_INT, 'Subjects whose fresh message is waiting in the outbox now'),
            'unknown' => new external_multiple_structure(new external_value(PARAM_RAW, 'A subject'),
                'Subjects not taken: not a subject the plugin sends, about someone it does not sync, or of a group '
                . 'of messages switched off'),
        ]);
    }
}
