<?php
/**
 * The "Moodle" panel on the Contact's detail and edit views.
 *
 * Custom fields appear in no layout until someone puts them there, and a site's layout may already be
 * its own (Studio writes custom/modules/Contacts/metadata/<view>defs.php, which SuiteCRM then reads
 * instead of modules/Contacts/metadata/). So the package adds its panel to whichever layout is in use
 * and writes the result where Studio would: the site keeps its changes, Studio can edit the panel
 * afterwards, and Quick Repair and Rebuild leaves custom/modules/*\/metadata alone.
 *
 * Runs from the package's scripts (post_install, post_uninstall), with SuiteCRM's root as the
 * working directory and its write_array_to_file, mkdir_recursive and rmdir_recursive loaded.
 */
class CrmSyncContactLayout
{
    public const PANEL = 'LBL_CRMSYNC_PANEL';
    private const MODULE = 'Contacts';
    private const FILES = ['DetailView' => 'detailviewdefs.php', 'EditView' => 'editviewdefs.php'];
    private const OWN_MARKER = '// Moodle sync package: core layout plus the Moodle panel (uninstalling the package removes this file).';

    /** @var array<string, array[]> view name => the panel's rows: two cells (a viewdefs field or '') each */
    private $panels;

    public function __construct(array $panels)
    {
        $this->panels = $panels;
    }

    /** Adds the panel to both views (or the fields it lacks, on an upgrade); returns the files written. */
    public function install(): array
    {
        $written = [];
        foreach (self::FILES as $view => $file) {
            $custom = self::customFile($file);
            if (is_file($custom) && !self::isOwn($custom)) {
                $changed = $this->withPanel(self::load($custom, $view) ?? [], $view);
                if ($changed !== null) {
                    self::write($custom, "viewdefs['" . self::MODULE . "']", [$view => $changed]);
                    $written[] = $custom;
                }
            } elseif (is_file(self::coreFile($file))) {
                $panel = $this->withPanel(['panels' => []], $view)['panels'][self::PANEL];
                $before = is_file($custom) ? file_get_contents($custom) : null;
                self::write($custom, "viewdefs['" . self::MODULE . "']['{$view}']['panels']['" . self::PANEL . "']",
                            $panel, self::ownHeader($file, $view));
                if (file_get_contents($custom) !== $before) {
                    $written[] = $custom;
                }
            }
        }
        return $written;
    }

    /** Takes the panel out of the site's layout again; returns the files changed or removed. */
    public function uninstall(): array
    {
        $changed = [];
        foreach (self::FILES as $view => $file) {
            $custom = self::customFile($file);
            if (!is_file($custom)) {
                continue;
            }
            if (self::isOwn($custom)) {
                rmdir_recursive($custom);
                $changed[] = $custom;
                continue;
            }
            $defs = self::load($custom, $view);
            if ($defs !== null && self::panelKey($defs) !== null) {
                self::write($custom, "viewdefs['" . self::MODULE . "']", [$view => self::withoutPanel($defs)]);
                $changed[] = $custom;
            }
        }
        return $changed;
    }

    /** The view with the panel, or null when it already shows every field of it. */
    public function withPanel(array $view, string $viewName): ?array
    {
        $shown = [];
        foreach ($view['panels'] ?? [] as $panel) {
            foreach ($panel as $row) {
                foreach ((array) $row as $cell) {
                    $name = is_array($cell) ? ($cell['name'] ?? '') : $cell;
                    if ($name !== '') {
                        $shown[$name] = true;
                    }
                }
            }
        }
        $missing = [];
        foreach ($this->panels[$viewName] as $row) {
            foreach ($row as $cell) {
                if ($cell !== '' && !isset($shown[$cell['name']])) {
                    $missing[] = $cell;
                }
            }
        }
        if (!$missing) {
            return null;
        }
        // A first install adds the panel as laid out; an upgrade that brings new fields adds them at its end,
        // leaving what an admin did with the panel in Studio.
        // Fields an admin already placed elsewhere are not shown twice.
        $key = self::panelKey($view);
        $all = count(array_filter(array_merge(...$this->panels[$viewName]), 'is_array'));
        if ($key === null && count($missing) === $all) {
            $view['panels'][self::PANEL] = $this->panels[$viewName];
        } else {
            foreach (array_chunk($missing, 2) as $row) {
                $view['panels'][$key ?? self::PANEL][] = array_pad($row, 2, '');
            }
        }
        if (!isset($view['templateMeta']['tabDefs'][self::PANEL])) {
            $view['templateMeta']['tabDefs'][self::PANEL] = ['newTab' => true, 'panelDefault' => 'expanded'];
        }
        return $view;
    }

    public static function withoutPanel(array $view): array
    {
        unset($view['panels'][self::panelKey($view)], $view['templateMeta']['tabDefs'][self::PANEL]);
        return $view;
    }

    /** Studio may have written the panel's key in lower case, as it does core's lbl_contact_information. */
    private static function panelKey(array $view): ?string
    {
        foreach (array_keys($view['panels'] ?? []) as $key) {
            if (strtoupper((string) $key) === self::PANEL) {
                return (string) $key;
            }
        }
        return null;
    }

    private static function customFile(string $file): string
    {
        return 'custom/modules/' . self::MODULE . '/metadata/' . $file;
    }

    private static function coreFile(string $file): string
    {
        return 'modules/' . self::MODULE . '/metadata/' . $file;
    }

    /**
     * A site without a layout of its own gets one that includes core's and adds the panel: core's layout
     * computes parts of itself (the opt-in e-mail button follows the site's settings) and changes with
     * SuiteCRM upgrades, and a copy of it would freeze both. Studio, saving this layout, writes its own.
     */
    private static function ownHeader(string $file, string $view): string
    {
        $tab = var_export(['newTab' => true, 'panelDefault' => 'expanded'], true);
        return "<?php\n" . self::OWN_MARKER . "\n"
            . "require 'modules/" . self::MODULE . "/metadata/{$file}';\n"
            . "\$viewdefs['" . self::MODULE . "']['{$view}']['templateMeta']['tabDefs']['" . self::PANEL . "'] = {$tab};\n";
    }

    private static function isOwn(string $path): bool
    {
        return strpos((string) file_get_contents($path), self::OWN_MARKER) !== false;
    }

    private static function load(string $path, string $view): ?array
    {
        if (!is_file($path)) {
            return null;
        }
        $viewdefs = [];
        include $path;
        return $viewdefs[self::MODULE][$view] ?? null;
    }

    private static function write(string $path, string $name, array $value, string $header = ''): void
    {
        mkdir_recursive(dirname($path));
        if (!write_array_to_file($name, $value, $path, 'w', $header)) {
            throw new RuntimeException("could not write {$path}");
        }
    }
}
