<?php
/**
 * Indices on contacts_cstm, the table SuiteCRM keeps the Contacts custom fields in.
 *
 * Module vardefs declare the indices of the package's own tables, but contacts_cstm belongs to
 * DynamicField, which knows columns only: a custom field definition has no index, and Quick Repair
 * (DynamicField::repairCustomFields) adds missing columns and never touches an index. So the package
 * adds its indices itself, through SuiteCRM's DBManager, and takes them away on uninstall.
 */
class CrmSyncIndices
{
    /** @param array[] $indices vardef-style definitions: name, type 'index', fields */
    public static function add($db, string $table, array $indices): array
    {
        $present = $db->get_indices($table);
        $added = [];
        foreach ($indices as $index) {
            if (!isset($present[strtolower($index['name'])])) {
                $db->addIndexes($table, [$index]);
                $added[] = $index['name'];
            }
        }
        return $added;
    }

    public static function drop($db, string $table, array $indices): array
    {
        if (!$db->tableExists($table)) {
            return [];
        }
        $present = $db->get_indices($table);
        $dropped = [];
        foreach ($indices as $index) {
            if (isset($present[strtolower($index['name'])])) {
                $db->dropIndexes($table, [$index]);
                $dropped[] = $index['name'];
            }
        }
        return $dropped;
    }
}
