<?php
use PHPUnit\Framework\TestCase;

/**
 * The 'CRM sync' web service (db/services.php) holds what the connector calls, and the admin guide tells
 * the admin the same functions and the same role as the plugin's Moodle tests use.
 */
final class ServiceDefinitionTest extends TestCase {
    /** @return array [functions, services] of db/services.php */
    private function services(): array {
        defined('MOODLE_INTERNAL') || define('MOODLE_INTERNAL', true);
        $functions = $services = null;
        require(CRMSYNC_REPO . '/moodle_plugin/db/services.php');
        return [$functions, $services];
    }

    /** @return string[] the functions listed in the guide's table of the service */
    private function guide_table(string $firstheader): array {
        $guide = file_get_contents(CRMSYNC_REPO . '/docs/moodle-admin-guide.md');
        $start = strpos($guide, "| $firstheader |");
        $this->assertNotFalse($start, "the admin guide has no table starting with '$firstheader'");
        $table = substr($guide, $start, strpos($guide, "\n\n", $start) - $start);
        $names = [];
        foreach (explode("\n", $table) as $row) {
            $first = explode('|', trim($row))[1] ?? '';
            preg_match_all('/`([a-z][a-z_\/:]+)`/', $first, $matches);
            $names = array_merge($names, $matches[1]);
        }
        return $names;
    }

    public function test_the_service_holds_every_function_the_connector_calls(): void {
        [, $services] = $this->services();
        $client = file_get_contents(CRMSYNC_REPO . '/crm_connector/moodle/client.py');
        preg_match_all('/"((?:core|enrol|local|mod|gradereport|tool)_[a-z_]+)"/', $client, $called);
        $this->assertNotEmpty($called[1]);
        $missing = array_diff(array_unique($called[1]), $services['CRM sync']['functions']);
        $this->assertSame([], array_values($missing), 'the connector calls functions the CRM sync service lacks');
    }

    public function test_the_service_is_off_restricted_and_gated_by_a_capability_the_plugin_declares(): void {
        [$functions, $services] = $this->services();
        $service = $services['CRM sync'];
        $this->assertSame(['crmsync', 0, 1, 0, 'local/crmsync:webservice'], [$service['shortname'], $service['enabled'],
            $service['restrictedusers'], $service['downloadfiles'], $service['requiredcapability']]);
        foreach (['RISK_PERSONAL' => 8, 'RISK_DATALOSS' => 32, 'RISK_CONFIG' => 2, 'CONTEXT_SYSTEM' => 10, 'CAP_ALLOW' => 1]
                as $name => $value) {
            defined($name) || define($name, $value);
        }
        $capabilities = null;
        require(CRMSYNC_REPO . '/moodle_plugin/db/access.php');
        $this->assertArrayHasKey('local/crmsync:webservice', $capabilities);
        $this->assertSame([], $capabilities['local/crmsync:webservice']['archetypes']);
        // The plugin's own functions are all in the service.
        $this->assertSame([], array_values(array_diff(array_keys($functions), $service['functions'])));
    }

    public function test_the_admin_guide_lists_the_services_functions_and_the_tested_role(): void {
        [, $services] = $this->services();
        $this->assertEqualsCanonicalizing($services['CRM sync']['functions'], $this->guide_table('function'));
        $role = require(CRMSYNC_REPO . '/moodle_plugin/tests/fixtures/webservice_role.php');
        $this->assertEqualsCanonicalizing($role['capabilities'], $this->guide_table('capability'));
    }
}
