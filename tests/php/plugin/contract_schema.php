<?php
// Validates a message against the event contract's JSON Schemas (crmsync/contract/schemas), so the
// plain PHP tests check what the plugin builds without Python or a Composer package.
//
// It knows the Draft 2020-12 keywords those schemas use and refuses any other keyword it meets: a
// schema that grows a keyword this file does not check makes the tests fail, never pass silently.

final class contract_schema {
    /** Keywords that only annotate. */
    const ANNOTATIONS = ['$schema', '$id', '$comment', 'title', 'description', 'default', 'examples', 'deprecated'];

    /** @var array schema documents by $id */
    private $schemas = [];

    public function __construct(?string $dir = null) {
        $dir = $dir ?? CRMSYNC_REPO . '/crmsync/contract/schemas';
        $files = array_merge(glob("$dir/*.json"), glob("$dir/defs/*.json"));
        foreach ($files as $file) {
            $schema = json_decode(file_get_contents($file));
            $this->schemas[$schema->{'$id'}] = $schema;
        }
        if (!isset($this->schemas['envelope.json'])) {
            throw new RuntimeException("no contract schemas in $dir");
        }
    }

    /**
     * The errors of one message as sent (after JSON encoding), against the schema of its type.
     *
     * @param array $message
     * @return string[] empty when the message is valid
     */
    public function errors(array $message): array {
        $id = $message['type'] . '.json';
        if (!isset($this->schemas[$id])) {
            return ["no schema for the message type {$message['type']}"];
        }
        $wire = json_decode(json_encode($message, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION));
        $errors = [];
        $this->check($this->schemas[$id], $wire, '', $id, $errors);
        return $errors;
    }

    private function check($schema, $value, string $path, string $base, array &$errors): void {
        if ($schema === true) {
            return;
        }
        if ($schema === false) {
            $errors[] = "$path: no value is allowed here";
            return;
        }
        if (isset($schema->{'$id'})) {
            $base = $schema->{'$id'};
        }
        foreach (get_object_vars($schema) as $keyword => $argument) {
            switch ($keyword) {
                case '$ref':
                    $this->check($this->resolve($argument, $base), $value, $path, $this->resolve_id($argument, $base), $errors);
                    break;
                case 'allOf':
                    foreach ($argument as $sub) {
                        $this->check($sub, $value, $path, $base, $errors);
                    }
                    break;
                case 'anyOf':
                case 'oneOf':
                    $passing = 0;
                    foreach ($argument as $sub) {
                        $suberrors = [];
                        $this->check($sub, $value, $path, $base, $suberrors);
                        $passing += $suberrors ? 0 : 1;
                    }
                    if ($keyword === 'anyOf' ? $passing === 0 : $passing !== 1) {
                        $errors[] = "$path: $passing of the $keyword alternatives match";
                    }
                    break;
                case 'type':
                    $types = (array) $argument;
                    if (!array_filter($types, function($type) use ($value) {
                        return self::is_type($value, $type);
                    })) {
                        $errors[] = "$path: " . json_encode($value) . ' is not of type ' . implode('|', $types);
                    }
                    break;
                case 'const':
                    if (!self::equal($value, $argument)) {
                        $errors[] = "$path: " . json_encode($value) . ' is not ' . json_encode($argument);
                    }
                    break;
                case 'enum':
                    if (!array_filter($argument, function($allowed) use ($value) {
                        return self::equal($value, $allowed);
                    })) {
                        $errors[] = "$path: " . json_encode($value) . ' is not one of ' . json_encode($argument);
                    }
                    break;
                case 'required':
                    if (is_object($value)) {
                        foreach ($argument as $name) {
                            if (!property_exists($value, $name)) {
                                $errors[] = "$path: '$name' is required";
                            }
                        }
                    }
                    break;
                case 'properties':
                    if (is_object($value)) {
                        foreach (get_object_vars($argument) as $name => $sub) {
                            if (property_exists($value, $name)) {
                                $this->check($sub, $value->$name, "$path/$name", $base, $errors);
                            }
                        }
                    }
                    break;
                case 'additionalProperties':
                    if (is_object($value)) {
                        $known = isset($schema->properties) ? array_keys(get_object_vars($schema->properties)) : [];
                        foreach (get_object_vars($value) as $name => $item) {
                            if (!in_array($name, $known, true)) {
                                $this->check($argument, $item, "$path/$name", $base, $errors);
                            }
                        }
                    }
                    break;
                case 'items':
                    if (is_array($value)) {
                        foreach ($value as $index => $item) {
                            $this->check($argument, $item, "$path/$index", $base, $errors);
                        }
                    }
                    break;
                case 'minItems':
                case 'maxItems':
                    if (is_array($value) && ($keyword === 'minItems' ? count($value) < $argument : count($value) > $argument)) {
                        $errors[] = "$path: " . count($value) . " items, $keyword is $argument";
                    }
                    break;
                case 'minLength':
                case 'maxLength':
                    if (is_string($value)) {
                        $length = mb_strlen($value, 'UTF-8');
                        if ($keyword === 'minLength' ? $length < $argument : $length > $argument) {
                            $errors[] = "$path: length $length, $keyword is $argument";
                        }
                    }
                    break;
                case 'pattern':
                    if (is_string($value) && !preg_match('/' . str_replace('/', '\/', $argument) . '/u', $value)) {
                        $errors[] = "$path: " . json_encode($value) . " does not match $argument";
                    }
                    break;
                case 'minimum':
                case 'maximum':
                    if ((is_int($value) || is_float($value))
                            && ($keyword === 'minimum' ? $value < $argument : $value > $argument)) {
                        $errors[] = "$path: $value is beyond the $keyword $argument";
                    }
                    break;
                case 'format':
                    if ($argument !== 'date-time') {
                        throw new LogicException("contract_schema does not check the format '$argument' ($base)");
                    }
                    if (is_string($value) && !preg_match(
                            '/^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/', $value)) {
                        $errors[] = "$path: " . json_encode($value) . ' is not a date-time';
                    }
                    break;
                default:
                    if (!in_array($keyword, self::ANNOTATIONS, true)) {
                        throw new LogicException("contract_schema does not know the keyword '$keyword' ($base)");
                    }
            }
        }
    }

    /** The $id a reference points to, relative to the referring document's $id. */
    private function resolve_id(string $ref, string $base): string {
        if (strpos($ref, '#') !== false) {
            throw new LogicException("contract_schema does not follow fragment references ('$ref' in $base)");
        }
        $dir = dirname($base);
        $parts = [];
        foreach (explode('/', ($dir === '.' ? '' : "$dir/") . $ref) as $part) {
            if ($part === '..') {
                array_pop($parts);
            } else if ($part !== '.' && $part !== '') {
                $parts[] = $part;
            }
        }
        return implode('/', $parts);
    }

    private function resolve(string $ref, string $base) {
        $id = $this->resolve_id($ref, $base);
        if (!isset($this->schemas[$id])) {
            throw new LogicException("unknown schema '$ref' referenced from $base");
        }
        return $this->schemas[$id];
    }

    private static function is_type($value, string $type): bool {
        switch ($type) {
            case 'object':
                return is_object($value);
            case 'array':
                return is_array($value);
            case 'string':
                return is_string($value);
            case 'boolean':
                return is_bool($value);
            case 'null':
                return $value === null;
            case 'number':
                return is_int($value) || is_float($value);
            case 'integer':
                return is_int($value) || (is_float($value) && is_finite($value) && floor($value) == $value);
        }
        throw new LogicException("unknown type '$type'");
    }

    /** JSON equality: 1 equals 1.0, true does not equal 1, objects compare member by member. */
    private static function equal($a, $b): bool {
        if ((is_int($a) || is_float($a)) && (is_int($b) || is_float($b))) {
            return $a == $b;
        }
        if (is_object($a) && is_object($b)) {
            $a = get_object_vars($a);
            $b = get_object_vars($b);
            ksort($a);
            ksort($b);
            if (array_keys($a) !== array_keys($b)) {
                return false;
            }
        } else if (gettype($a) !== gettype($b)) {
            return false;
        }
        if (is_array($a)) {
            if (count($a) !== count($b)) {
                return false;
            }
            foreach ($a as $key => $item) {
                if (!array_key_exists($key, $b) || !self::equal($item, $b[$key])) {
                    return false;
                }
            }
            return true;
        }
        return $a === $b;
    }
}
