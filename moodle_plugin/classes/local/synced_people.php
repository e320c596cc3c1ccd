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

namespace local_crmsync\local;

/**
 * Who the CRM hears about: the one rule the observers, the backfill and the course summary follow.
 *
 * Every user is synced but the site admins ($CFG->siteadmins), the guest and the authorised users of
 * the plugin's own web service (the CRM's account for writing to Moodle): none of them is a learner the
 * CRM keeps a Contact for. The rule holds when a message is recorded: a user who becomes a site admin
 * or a service user later is heard of no more from then on (messages already waiting are still sent;
 * the CRM keeps what it had); one who stops being one is heard of again, and a backfill of that user
 * (cli/backfill.php --user=ID) gives the CRM the Contact and what they hold.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class synced_people {
    /** The shortname of the plugin's web service (db/services.php). */
    const SERVICE = 'crmsync';

    /**
     * An SQL condition: the user whose id is in $column is synced. Deleted users are not left out here:
     * a synced user's deletion is a message too.
     *
     * @param string $column e.g. 'u.id'
     * @return array [sql, named params]
     */
    public static function where(string $column): array {
        global $CFG, $DB;
        $p = 'synced_';
        $sql = "$column <> :{$p}guest AND NOT EXISTS (
                    SELECT 1 FROM {external_services_users} {$p}su
                      JOIN {external_services} {$p}s ON {$p}s.id = {$p}su.externalserviceid
                     WHERE {$p}su.userid = $column AND {$p}s.component = :{$p}component AND {$p}s.shortname = :{$p}service)";
        $params = [$p . 'guest' => (int) $CFG->siteguest, $p . 'component' => 'local_crmsync', $p . 'service' => self::SERVICE];
        $admins = array_filter(array_map('intval', explode(',', (string) ($CFG->siteadmins ?? ''))));
        if ($admins) {
            [$notadmin, $adminparams] = $DB->get_in_or_equal($admins, SQL_PARAMS_NAMED, $p . 'admin', false);
            $sql .= " AND $column $notadmin";
            $params += $adminparams;
        }
        return [$sql, $params];
    }

    /**
     * Which of these users are synced (users that do not exist are not).
     *
     * @param int[] $userids
     * @return int[] the synced ones
     */
    public static function filter(array $userids): array {
        global $DB;
        $userids = array_values(array_unique(array_map('intval', $userids)));
        if (!$userids) {
            return [];
        }
        [$in, $params] = $DB->get_in_or_equal($userids, SQL_PARAMS_NAMED, 'user');
        [$synced, $syncedparams] = self::where('u.id');
        return array_map('intval', $DB->get_fieldset_sql("SELECT u.id FROM {user} u WHERE u.id $in AND $synced",
            $params + $syncedparams));
    }

    /**
     * The roles whose holders are learners: the learnerroles setting, the student archetype's roles when
     * it was never saved.
     *
     * @return int[] role ids
     */
    public static function learner_roles(): array {
        $setting = get_config('local_crmsync', 'learnerroles');
        if ($setting === false) {
            return array_map('intval', array_keys(get_archetype_roles('student')));
        }
        return array_values(array_filter(array_map('intval', explode(',', (string) $setting))));
    }

    /**
     * A course's learners: synced users, not deleted, holding a learner role in the course's context and an
     * active enrolment (an enabled instance, the enrolment active and within its dates).
     *
     * @param int $courseid
     * @return int
     */
    public static function count_learners(int $courseid): int {
        global $DB;
        $context = \context_course::instance($courseid, IGNORE_MISSING);
        $roles = self::learner_roles();
        if (!$context || !$roles) {
            return 0;
        }
        $enrolled = get_enrolled_join($context, 'u.id', true);
        [$synced, $syncedparams] = self::where('u.id');
        [$in, $roleparams] = $DB->get_in_or_equal($roles, SQL_PARAMS_NAMED, 'role');
        return $DB->count_records_sql(
            "SELECT COUNT(DISTINCT u.id) FROM {user} u {$enrolled->joins}
              WHERE {$enrolled->wheres} AND u.deleted = 0 AND $synced
                    AND EXISTS (SELECT 1 FROM {role_assignments} ra
                                 WHERE ra.userid = u.id AND ra.contextid = :context AND ra.roleid $in)",
            $enrolled->params + $syncedparams + $roleparams + ['context' => $context->id]);
    }
}
