<?php
use local_crmsync\local\site_identity;
use PHPUnit\Framework\TestCase;

// Just enough of Moodle for db/install.php: a config store and the site's identifier.
if (!function_exists('set_config')) {
    function set_config($name, $value, $plugin = null) {
        $GLOBALS['crmsync_test_config'][$plugin ?? 'core'][$name] = $value;
        return true;
    }
}
if (!function_exists('get_site_identifier')) {
    function get_site_identifier() {
        return $GLOBALS['crmsync_test_siteidentifier'];
    }
}
require_once(CRMSYNC_REPO . '/moodle_plugin/db/install.php');

/** The site id comes from Moodle's own siteidentifier, so a reinstall of the plugin keeps the site the CRM knows. */
final class SiteIdentityTest extends TestCase {
    /** Moodle's siteidentifier: 32 random characters and the host (lib/db/install.php). */
    const SITEIDENTIFIER = 'Xk3J9vQ2mN7pL4rT8wY1zA6bC5dE0fG2127.0.0.1';

    private function install(string $siteidentifier): array {
        $GLOBALS['crmsync_test_config'] = [];
        $GLOBALS['crmsync_test_siteidentifier'] = $siteidentifier;
        $this->assertTrue(xmldb_local_crmsync_install());
        return $GLOBALS['crmsync_test_config']['local_crmsync'];
    }

    public function test_the_site_id_is_derived_from_the_siteidentifier(): void {
        $this->assertSame(substr(hash('sha256', self::SITEIDENTIFIER), 0, 20),
            site_identity::from_siteidentifier(self::SITEIDENTIFIER));
        $this->assertMatchesRegularExpression('/^[0-9a-f]{20}$/', site_identity::from_siteidentifier(self::SITEIDENTIFIER));
        $this->assertNotSame(site_identity::from_siteidentifier(self::SITEIDENTIFIER),
            site_identity::from_siteidentifier(self::SITEIDENTIFIER . 'x'));
    }

    public function test_uninstall_and_install_again_keeps_the_site_id(): void {
        $first = $this->install(self::SITEIDENTIFIER);
        $again = $this->install(self::SITEIDENTIFIER);
        $this->assertSame(site_identity::from_siteidentifier(self::SITEIDENTIFIER), $first['siteid']);
        $this->assertSame($first['siteid'], $again['siteid']);
        $this->assertNotSame($first['siteid'], $this->install('another Moodle')['siteid']);
    }

    public function test_no_siteidentifier_is_refused_rather_than_shared(): void {
        $this->expectException(InvalidArgumentException::class);
        site_identity::from_siteidentifier('');
    }
}
