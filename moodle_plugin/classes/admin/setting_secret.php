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

namespace local_crmsync\admin;

defined('MOODLE_INTERNAL') || die();

global $CFG;
require_once($CFG->libdir . '/adminlib.php');

use local_crmsync\local\secret_rotation;
use local_crmsync\webhook\signer;

/**
 * The signing secret field: refuses what is not a whsec_ secret, and a secret typed in over another
 * one is a rotation like the status page's button (the replaced one stays valid for the overlap).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class setting_secret extends \admin_setting_configpasswordunmask {
    /**
     * @param string $data
     * @return true|string
     */
    public function validate($data) {
        $data = trim((string) $data);
        if ($data !== '' && !signer::is_valid($data)) {
            return get_string('secretinvalid', 'local_crmsync');
        }
        return parent::validate($data);
    }

    /**
     * @param string $data
     * @return string '' or the error
     */
    public function write_setting($data) {
        $data = trim((string) $data);
        $replaced = (string) $this->get_setting();
        $error = parent::write_setting($data);
        if ($error === '' && $data !== '' && $replaced !== $data) {
            secret_rotation::store($data, time(), $replaced);
        }
        return $error;
    }
}
