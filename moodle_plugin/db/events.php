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
 * Observers: 'internal' => false, so they run only after Moodle's transaction committed.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

defined('MOODLE_INTERNAL') || die();

$events = [
    '\core\event\user_created', '\core\event\user_updated', '\core\event\user_deleted',
    '\core\event\user_enrolment_created', '\core\event\user_enrolment_updated', '\core\event\user_enrolment_deleted',
    '\core\event\role_assigned', '\core\event\role_unassigned',
    '\core\event\group_member_added', '\core\event\group_member_removed',
    '\core\event\group_created', '\core\event\group_updated', '\core\event\group_deleted',
    '\core\event\user_graded', '\core\event\grade_deleted', '\core\event\grade_item_deleted',
    '\core\event\grade_item_created', '\core\event\grade_item_updated',
    '\core\event\course_module_completion_updated', '\core\event\course_completed',
    '\core\event\course_viewed',
    '\core\event\course_created', '\core\event\course_updated', '\core\event\course_deleted',
    '\core\event\course_module_deleted',
    '\mod_attendance\event\attendance_taken', '\mod_attendance\event\attendance_taken_by_student',
    '\tool_policy\event\acceptance_created', '\tool_policy\event\acceptance_updated',
];
$observers = array_map(function($eventname) {
    return ['eventname' => $eventname, 'callback' => '\local_crmsync\observer::record', 'internal' => false];
}, $events);
