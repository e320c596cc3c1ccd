<?php
use PHPUnit\Framework\TestCase;

/**
 * The Moodle panel the package's scripts put on the Contact's detail and edit views, run against
 * a Contacts layout shaped like SuiteCRM 7.14.6's own and against one a site changed in Studio (fixtures/).
 */
final class ContactLayoutTest extends TestCase {
    private const ROWS = [['moodle_site_id_c', 'moodle_user_id_c'], ['moodle_username_c', 'moodle_idnumber_c'],
                          ['moodle_status_c', 'moodle_last_access_c'], ['moodle_consent_c', 'moodle_consent_date_c'],
                          ['moodle_site_c', '']];
    private const FIXTURES = __DIR__ . '/fixtures';

    /** @var string */
    private $root;
    /** @var string */
    private $cwd;

    protected function setUp(): void {
        $this->cwd = getcwd();
        $this->root = sys_get_temp_dir() . '/crmsync-layout-' . getmypid() . '-' . bin2hex(random_bytes(4));
        self::copyTree(self::FIXTURES . '/core-layout', $this->root);
        chdir($this->root);
    }

    protected function tearDown(): void {
        chdir($this->cwd);
        exec('rm -rf ' . escapeshellarg($this->root));
    }

    private static function copyTree(string $from, string $to): void {
        exec('mkdir -p ' . escapeshellarg($to) . ' && cp -R ' . escapeshellarg($from) . '/. ' . escapeshellarg($to));
    }

    /** The panel as the generator writes it into the package's scripts (suitecrm_package/build.py). */
    private static function layout(): CrmSyncContactLayout {
        $panels = [];
        foreach (['DetailView', 'EditView'] as $view) {
            foreach (self::ROWS as $row) {
                $panels[$view][] = array_map(function ($name) use ($view) {
                    if ($name === '') {
                        return '';
                    }
                    $cell = ['name' => $name, 'label' => 'LBL_' . strtoupper($name)];
                    return $view === 'EditView' ? $cell + ['type' => 'readonly'] : $cell;
                }, $row);
            }
        }
        return new CrmSyncContactLayout($panels);
    }

    /** The view as SuiteCRM's view.detail / view.edit load it: custom/ if there, else modules/. */
    private static function view(string $view): array {
        $file = ['DetailView' => 'detailviewdefs.php', 'EditView' => 'editviewdefs.php'][$view];
        $path = is_file("custom/modules/Contacts/metadata/$file") ? "custom/modules/Contacts/metadata/$file"
                                                                   : "modules/Contacts/metadata/$file";
        $viewdefs = [];
        include $path;
        return $viewdefs['Contacts'][$view];
    }

    private static function fieldsOf(array $panel): array {
        $names = [];
        foreach ($panel as $row) {
            foreach ($row as $cell) {
                $names[] = is_array($cell) ? $cell['name'] : $cell;
            }
        }
        return $names;
    }

    private static function panelCount(array $view): int {
        return count(array_filter(array_keys($view['panels']), function ($k) { return strtoupper($k) === 'LBL_CRMSYNC_PANEL'; }));
    }

    public function test_the_core_layout_gets_the_panel_once_and_keeps_everything_else(): void {
        $core = ['DetailView' => self::view('DetailView'), 'EditView' => self::view('EditView')];
        $this->assertCount(2, self::layout()->install());
        foreach ($core as $name => $before) {
            $after = self::view($name);
            $this->assertSame(array_merge(...self::ROWS), self::fieldsOf($after['panels']['LBL_CRMSYNC_PANEL']));
            $this->assertSame(['newTab' => true, 'panelDefault' => 'expanded'],
                              $after['templateMeta']['tabDefs']['LBL_CRMSYNC_PANEL']);
            unset($after['panels']['LBL_CRMSYNC_PANEL'], $after['templateMeta']['tabDefs']['LBL_CRMSYNC_PANEL']);
            $this->assertSame($before, $after, "$name: core's panels and settings are kept as they were");
        }
        $detail = self::view('DetailView')['panels']['LBL_CRMSYNC_PANEL'];
        $this->assertSame(['name' => 'moodle_user_id_c', 'label' => 'LBL_MOODLE_USER_ID_C'], $detail[0][1]);
        $this->assertSame(['name' => 'moodle_user_id_c', 'label' => 'LBL_MOODLE_USER_ID_C', 'type' => 'readonly'],
                          self::view('EditView')['panels']['LBL_CRMSYNC_PANEL'][0][1]);
        // The file includes core's, so core's computed button and later core changes still apply.
        $this->assertStringContainsString("require 'modules/Contacts/metadata/detailviewdefs.php';",
                                          file_get_contents('custom/modules/Contacts/metadata/detailviewdefs.php'));
    }

    public function test_installing_again_changes_nothing(): void {
        self::layout()->install();
        $files = [file_get_contents('custom/modules/Contacts/metadata/detailviewdefs.php'),
                  file_get_contents('custom/modules/Contacts/metadata/editviewdefs.php')];
        $this->assertSame([], self::layout()->install());
        $this->assertSame($files, [file_get_contents('custom/modules/Contacts/metadata/detailviewdefs.php'),
                                   file_get_contents('custom/modules/Contacts/metadata/editviewdefs.php')]);
        $this->assertSame(1, self::panelCount(self::view('DetailView')));
    }

    public function test_uninstall_leaves_the_core_layout(): void {
        $core = file_get_contents('modules/Contacts/metadata/detailviewdefs.php');
        self::layout()->install();
        self::layout()->uninstall();
        $this->assertFileDoesNotExist('custom/modules/Contacts/metadata/detailviewdefs.php');
        $this->assertFileDoesNotExist('custom/modules/Contacts/metadata/editviewdefs.php');
        $this->assertSame($core, file_get_contents('modules/Contacts/metadata/detailviewdefs.php'));
    }

    public function test_a_studio_layout_keeps_its_changes_and_gets_the_panel(): void {
        self::copyTree(self::FIXTURES . '/studio-customised', $this->root);
        $studio = ['DetailView' => self::view('DetailView'), 'EditView' => self::view('EditView')];
        self::layout()->install();
        foreach ($studio as $name => $before) {
            $after = self::view($name);
            $this->assertSame(array_merge(...self::ROWS), self::fieldsOf($after['panels']['LBL_CRMSYNC_PANEL']));
            $this->assertNotContains('phone_fax', self::fieldsOf($after['panels']['lbl_contact_information']));
            $this->assertSame(['birthdate', 'assistant'], self::fieldsOf($after['panels']['lbl_detailview_panel1']));
            $this->assertSame($before, CrmSyncContactLayout::withoutPanel($after), $name);
        }
        $this->assertSame([], self::layout()->install(), 'a second install adds nothing');
        $this->assertSame(1, self::panelCount(self::view('DetailView')));

        self::layout()->uninstall();
        foreach ($studio as $name => $before) {
            $this->assertSame($before, self::view($name), "$name: uninstall takes out the panel and nothing else");
        }
    }

    public function test_a_panel_the_admin_rearranged_in_studio_gets_only_the_fields_it_lacks(): void {
        self::copyTree(self::FIXTURES . '/studio-customised', $this->root);
        $viewdefs = [];
        include 'custom/modules/Contacts/metadata/detailviewdefs.php';
        // An earlier package version's panel, saved by Studio (lower-case key) with two fields swapped.
        $viewdefs['Contacts']['DetailView']['panels']['lbl_crmsync_panel'] = [
            [['name' => 'moodle_user_id_c', 'label' => 'X'], ['name' => 'moodle_username_c', 'label' => 'Y']]];
        write_array_to_file("viewdefs['Contacts']", $viewdefs['Contacts'], 'custom/modules/Contacts/metadata/detailviewdefs.php');
        self::layout()->install();
        $panel = self::view('DetailView')['panels']['lbl_crmsync_panel'];
        $this->assertSame(['moodle_user_id_c', 'moodle_username_c', 'moodle_site_id_c', 'moodle_idnumber_c',
                           'moodle_status_c', 'moodle_last_access_c', 'moodle_consent_c', 'moodle_consent_date_c',
                           'moodle_site_c', ''], self::fieldsOf($panel));
        $this->assertSame(1, self::panelCount(self::view('DetailView')));
        self::layout()->uninstall();
        $this->assertSame(0, self::panelCount(self::view('DetailView')));
    }

    public function test_fields_an_admin_already_placed_are_not_shown_twice(): void {
        self::copyTree(self::FIXTURES . '/studio-customised', $this->root);
        $viewdefs = [];
        include 'custom/modules/Contacts/metadata/detailviewdefs.php';
        $viewdefs['Contacts']['DetailView']['panels']['lbl_detailview_panel1'][] =
            [['name' => 'moodle_user_id_c', 'label' => 'LBL_MOODLE_USER_ID_C'], ''];
        write_array_to_file("viewdefs['Contacts']", $viewdefs['Contacts'], 'custom/modules/Contacts/metadata/detailviewdefs.php');
        self::layout()->install();
        $view = self::view('DetailView');
        $this->assertSame(['moodle_site_id_c', 'moodle_username_c', 'moodle_idnumber_c', 'moodle_status_c',
                           'moodle_last_access_c', 'moodle_consent_c', 'moodle_consent_date_c', 'moodle_site_c'],
                          self::fieldsOf($view['panels']['LBL_CRMSYNC_PANEL']));
        $this->assertContains('moodle_user_id_c', self::fieldsOf($view['panels']['lbl_detailview_panel1']));
    }
}
