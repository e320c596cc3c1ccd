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
 * Moodle's current state of one kind of subject, a page at a time, as the messages the outbox sends:
 * local_crmsync_export_state (the reconciliation reads Moodle through it; local\state_export says how).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class export_state extends external_api {
    /**
     * @return external_function_parameters
     */
    public static function execute_parameters(): external_function_parameters {
        return new external_function_parameters([
            'kind' => new external_value(PARAM_ALPHAEXT, 'One of ' . implode(', ', state_export::KINDS)),
            'fromid' => new external_value(PARAM_INT, 'Only subjects whose key is greater (the nextfromid of the page '
                . 'before; 0: from the start)', VALUE_DEFAULT, 0),
            'limit' => new external_value(PARAM_INT, 'At most this many items (1 to ' . state_export::MAX_LIMIT . ')',
                VALUE_DEFAULT, 200),
        ]);
    }

    /**
     * @param string $kind
     * @param int $fromid
     * @param int $limit
     * @return array
     */
    public static function execute(string $kind, int $fromid = 0, int $limit = 200): array {
        $params = self::validate_parameters(self::execute_parameters(),
            ['kind' => $kind, 'fromid' => $fromid, 'limit' => $limit]);
        $context = \context_system::instance();
        self::validate_context($context);
        require_capability('local/crmsync:webservice', $context);
        $page = state_export::page($params['kind'], $params['fromid'], $params['limit']);
        $page['items'] = array_map(function(array $item) {
            return ['subject' => $item['subject'],
                'message' => json_encode($item['message'], \local_crmsync\local\delivery::JSON_FLAGS)];
        }, $page['items']);
        return $page;
    }

    /**
     * @return external_single_structure
     */
    public static function execute_returns(): external_single_structure {
        return new external_single_structure([
            'items' => new external_multiple_structure(new external_single_structure([
                'subject' => new external_value(PARAM_RAW, 'The subject, e.g. user:3'),
                'message' => new external_value(PARAM_RAW, 'The JSON text of its message (docs/event-contract.md)'),
            ]), 'The page, by ascending key'),
            'nextfromid' => new external_value(PARAM_INT, 'The fromid of the next page; 0 when this is the last'),
            'total' => new external_value(PARAM_INT, 'How many subjects of this kind there are'),
        ]);
    }
}
