<?php
/**
 * Logic hooks on the synced modules (CrmSyncFields::MODULES; registered by the package's manifest):
 * a CRM user's save that changes a synced field, or a deletion, adds one row to the outbox
 * (CrmSyncOutbox). Nothing is sent from here: the scheduler job delivers (CrmSyncJob), so a save
 * never waits for, nor fails because of, the receiver.
 *
 * The modules a CRM user administers Moodle from (enrolments, groups, intakes: those whose definition
 * has `related`) have their parents (the learner's Contact, the course, the Target List) count as
 * fields: a save that changes a parent, or a parent related or unrelated from a subpanel, is a change
 * of the record, named by the parent's name in `related` ("contact"). The before_save of those with a
 * sync state (`waits`; a registration has its own status result instead) marks a CRM user's change
 * "Waiting for Moodle" (sync_state pending) in the same save.
 *
 * Off until $sugar_config['crmsync']['receiver_url'] is set (config_override.php). Saves made by the
 * sync's own API user ($sugar_config['crmsync']['api_user_id']) are not recorded: they are Moodle's
 * changes arriving, and sending them back would echo.
 */
if (!defined('sugarEntry') || !sugarEntry) {
    die('Not A Valid Entry Point');
}
require_once 'custom/crmsync/CrmSyncOutbox.php';
require_once 'custom/crmsync/CrmSyncFields.php';

class CrmSyncHook
{
    /** The sync state a CRM user's change gives the record until the connector has done it in Moodle. */
    const PENDING = 'pending';

    /**
     * @var WeakMap|null bean => its email1 as retrieved: email1 is no column, so fetched_row lacks it,
     *     and Person::save has replaced the bean's addresses before after_save
     */
    private static $retrievedEmail;
    /**
     * @var WeakMap|null bean => [related name => parent id, '' for none] as retrieved: the relate id
     *     fields are no columns (SugarBean::retrieve fills them from the join tables), so fetched_row
     *     lacks them
     */
    private static $retrievedParents;
    /**
     * @var WeakMap|null bean => [related name => true]: parents related or unrelated while the bean is
     *     being saved (SugarBean::save_relationship_changes, before before_save), which that save's
     *     after_save records with its other changes, in one row
     */
    private static $relatedInSave;

    public function afterRetrieve($bean, $event, $arguments)
    {
        try {
            $module = CrmSyncFields::MODULES[$bean->module_dir] ?? null;
            if ($module !== null && property_exists($bean, 'email1')) {
                self::$retrievedEmail = self::$retrievedEmail ?? new WeakMap();
                self::$retrievedEmail[$bean] = (string) $bean->email1;
            }
            if (isset($module['related'])) {
                self::$retrievedParents = self::$retrievedParents ?? new WeakMap();
                self::$retrievedParents[$bean] = self::parents($module, $bean);
            }
        } catch (\Throwable $error) {
            self::log($error);
        }
    }

    public function beforeSave($bean, $event, $arguments)
    {
        try {
            $module = CrmSyncFields::MODULES[$bean->module_dir] ?? null;
            if (!isset($module['related']) || empty($module['waits']) || !self::recording()) {
                return;
            }
            if (!self::isUpdate($bean) || self::changes($module, $bean)) {
                $bean->sync_state = self::PENDING;
                $bean->sync_message = '';
            }
        } catch (\Throwable $error) {
            self::log($error);
        }
    }

    public function afterSave($bean, $event, $arguments)
    {
        try {
            $module = CrmSyncFields::MODULES[$bean->module_dir] ?? null;
            if ($module === null || !self::recording()) {
                return;
            }
            $changed = self::changes($module, $bean);
            if ($changed) {
                (new CrmSyncOutbox($GLOBALS['db']))->record($bean->module_dir, (string) $bean->id, 'save', $changed, time());
            }
            // The next save of this bean compares with what this one wrote.
            if (self::$retrievedEmail !== null && property_exists($bean, 'email1')) {
                self::$retrievedEmail[$bean] = (string) $bean->email1;
            }
            if (isset($module['related'])) {
                self::$retrievedParents = self::$retrievedParents ?? new WeakMap();
                self::$retrievedParents[$bean] = self::parents($module, $bean);
                if (self::$relatedInSave !== null) {
                    unset(self::$relatedInSave[$bean]);
                }
            }
        } catch (\Throwable $error) {
            self::log($error);
        }
    }

    public function afterDelete($bean, $event, $arguments)
    {
        try {
            if (isset(CrmSyncFields::MODULES[$bean->module_dir]) && self::recording()) {
                (new CrmSyncOutbox($GLOBALS['db']))->record($bean->module_dir, (string) ($arguments['id'] ?? $bean->id),
                    'delete', array(CrmSyncOutbox::DELETED), time());
            }
        } catch (\Throwable $error) {
            self::log($error);
        }
    }

    public function afterRelationshipAdd($bean, $event, $arguments)
    {
        $this->relationshipChanged($bean, $arguments, 'relate');
    }

    public function afterRelationshipDelete($bean, $event, $arguments)
    {
        $this->relationshipChanged($bean, $arguments, 'unrelate');
    }

    /**
     * SuiteCRM calls the relationship hooks of both records (SugarRelationship::callAfterAdd/Delete on
     * each side, $bean being the one whose module's hooks run, $arguments['module'] its module): only a
     * parent of this record, by its relationship or link, is a change of it.
     */
    private function relationshipChanged($bean, $arguments, string $action): void
    {
        try {
            $module = CrmSyncFields::MODULES[$bean->module_dir] ?? null;
            if (!isset($module['related']) || (string) ($arguments['module'] ?? $bean->module_dir) !== $bean->module_dir
                || (isset($arguments['id']) && (string) $arguments['id'] !== (string) $bean->id)) {
                return;
            }
            $name = self::relatedName($module, (string) ($arguments['relationship'] ?? ''), (string) ($arguments['link'] ?? ''));
            // A deletion unrelates every parent first (SugarBean::mark_deleted): the deletion is the change.
            if ($name === null || (string) ($bean->deleted ?? '0') === '1' || !self::recording()) {
                return;
            }
            if (!empty($bean->in_save)) {
                self::$relatedInSave = self::$relatedInSave ?? new WeakMap();
                $names = self::$relatedInSave[$bean] ?? array();
                $names[$name] = true;
                self::$relatedInSave[$bean] = $names;
                return;
            }
            (new CrmSyncOutbox($GLOBALS['db']))->record($bean->module_dir, (string) $bean->id, $action, array($name), time());
            if (!empty($module['waits'])) {
                self::markWaiting($bean);
            }
            if (self::$retrievedParents !== null && isset(self::$retrievedParents[$bean])) {
                // Its next save compares with the parent the database now holds, not the one it was retrieved with.
                $parents = self::$retrievedParents[$bean];
                $parents[$name] = $action === 'relate' ? (string) ($arguments['related_id'] ?? '') : '';
                self::$retrievedParents[$bean] = $parents;
            }
        } catch (\Throwable $error) {
            self::log($error);
        }
    }

    /**
     * Relating or unrelating from a subpanel saves no bean, so no before_save shows the change waiting:
     * the record's row is set as before_save would have set it.
     */
    private static function markWaiting($bean): void
    {
        $db = $GLOBALS['db'];
        $db->query('UPDATE ' . $bean->table_name . " SET sync_state = '" . self::PENDING . "', sync_message = '' WHERE id = '"
            . $db->quote((string) $bean->id) . "'");
        $bean->sync_state = self::PENDING;
        $bean->sync_message = '';
    }

    /**
     * What this save changes: the synced fields whose value it changes, then (modules with `related`)
     * the parents whose relate id it changes or that it related or unrelated; for a new record, those
     * it gives a value.
     *
     * @return string[]
     */
    private static function changes(array $module, $bean): array
    {
        $before = null;
        if (self::isUpdate($bean)) {
            $before = $bean->fetched_row;
            if (self::$retrievedEmail !== null && isset(self::$retrievedEmail[$bean])) {
                $before['email1'] = self::$retrievedEmail[$bean];
            }
        }
        $after = array();
        foreach ($module['fields'] as $field) {
            $after[$field] = isset($bean->$field) ? $bean->$field : '';
        }
        $changed = CrmSyncOutbox::changedFields($module['fields'], $before, $after);
        if (isset($module['related'])) {
            $parentsBefore = null;
            if ($before !== null) {
                // A bean not retrieved (no after_retrieve) has no known parents: none is known to have changed.
                $parentsBefore = self::$retrievedParents !== null && isset(self::$retrievedParents[$bean])
                    ? self::$retrievedParents[$bean] : array();
            }
            $inSave = self::$relatedInSave !== null && isset(self::$relatedInSave[$bean]) ? self::$relatedInSave[$bean] : array();
            foreach (CrmSyncOutbox::changedFields(array_keys($module['related']), $parentsBefore,
                                                  self::parents($module, $bean)) as $name) {
                $inSave[$name] = true;
            }
            foreach (array_keys($module['related']) as $name) {
                if (isset($inSave[$name])) {
                    $changed[] = $name;
                }
            }
        }
        return $changed;
    }

    private static function isUpdate($bean): bool
    {
        return !empty($bean->fetched_row) && is_array($bean->fetched_row);
    }

    /** @return array related name => the parent's id in the bean's relate id field, '' for none */
    private static function parents(array $module, $bean): array
    {
        $parents = array();
        foreach ($module['related'] as $name => $related) {
            $field = $related['id_field'];
            // Until filled, the field may hold the Link2 that load_relationship put there.
            $parents[$name] = isset($bean->$field) && is_string($bean->$field) ? trim($bean->$field) : '';
        }
        return $parents;
    }

    private static function relatedName(array $module, string $relationship, string $link): ?string
    {
        foreach ($module['related'] as $name => $related) {
            // The link SuiteCRM names is either of the child's two link fields of the relationship.
            if ($relationship === $related['relationship'] || in_array($link, array($related['link'], $related['id_field']), true)) {
                return $name;
            }
        }
        return null;
    }

    private static function recording(): bool
    {
        $settings = $GLOBALS['sugar_config']['crmsync'] ?? array();
        $apiUser = (string) ($settings['api_user_id'] ?? '');
        $user = isset($GLOBALS['current_user']->id) ? (string) $GLOBALS['current_user']->id : '';
        return !empty($settings['receiver_url']) && !($apiUser !== '' && $user === $apiUser);
    }

    private static function log(\Throwable $error): void
    {
        // A CRM save must never fail because of the sync. fatal: SuiteCRM's default log level writes
        // only fatal lines to suitecrm.log. The message names no value of the record.
        $GLOBALS['log']->fatal('Moodle sync hook: the change was not recorded in the outbox: ' . get_class($error)
            . ': ' . $error->getMessage());
    }
}
