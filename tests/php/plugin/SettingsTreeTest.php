<?php
use PHPUnit\Framework\TestCase;

/**
 * settings.php in a stand-in of Moodle's admin tree: the status page reaches every user with
 * local/crmsync:manage, the settings only site admins.
 *
 * @runTestsInSeparateProcesses
 */
final class SettingsTreeTest extends TestCase {
    /** Run settings.php as core_plugin_manager's local plugininfo does, for a user with or without site config. */
    private function tree(bool $hassiteconfig): fake_admin_root {
        global $CFG;
        $CFG = (object) ['libdir' => __DIR__ . '/moodle_stubs'];
        require_once(__DIR__ . '/moodle_stubs/adminlib.php');
        $ADMIN = new fake_admin_root($hassiteconfig);
        (function() use ($ADMIN, $hassiteconfig) {
            include(CRMSYNC_REPO . '/moodle_plugin/settings.php');
        })();
        return $ADMIN;
    }

    public function test_a_user_with_only_the_capability_finds_the_status_page(): void {
        $tree = $this->tree(false);
        $this->assertSame([], $tree->lost, 'added under a category a non-admin tree does not have: never shown');
        $pages = $tree->pages();
        $this->assertSame(['local_crmsync_status'], array_keys($pages));
        $status = $pages['local_crmsync_status'];
        $this->assertInstanceOf(admin_externalpage::class, $status);
        $this->assertSame(['local/crmsync:manage'], $status->req_capability);
        $this->assertSame('/local/crmsync/index.php', $status->url->path);
        $this->assertSame('CRM sync delivery status', $status->visiblename);
    }

    public function test_site_admins_get_the_settings_and_the_status_page(): void {
        $tree = $this->tree(true);
        $this->assertSame([], $tree->lost);
        $pages = $tree->pages();
        $this->assertEqualsCanonicalizing(['local_crmsync_status', 'local_crmsync'], array_keys($pages));
        $settings = $pages['local_crmsync'];
        $this->assertSame(['moodle/site:config'], $settings->req_capability);
        $names = array_keys($settings->settings);
        foreach (['receiverurl', 'secret', 'secretoverlapdays', 'eventgroups', 'learnerroles', 'batchsize', 'maxbatchkb',
                'retentiondays', 'profilefields'] as $name) {
            $this->assertContains("local_crmsync/$name", $names);
        }
        $this->assertInstanceOf(\local_crmsync\admin\setting_secret::class, $settings->settings['local_crmsync/secret']);
        $this->assertSame(7, $settings->settings['local_crmsync/secretoverlapdays']->defaultsetting);
        $this->assertSame(512, $settings->settings['local_crmsync/maxbatchkb']->defaultsetting);
        // The learners are the student archetype's roles until an admin chooses others.
        $this->assertSame(['student'], $settings->settings['local_crmsync/learnerroles']->types);
    }
}
