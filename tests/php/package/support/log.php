<?php
/** SuiteCRM's $GLOBALS['log'] (LoggerManager): what the package writes, kept for assertions. */
final class RecordingLog
{
    /** @var array of [level, message] */
    public $lines = array();

    public function __call($level, $arguments)
    {
        $this->lines[] = array($level, implode(' ', $arguments));
    }
}
