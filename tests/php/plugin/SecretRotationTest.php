<?php
use local_crmsync\local\secret_rotation;
use local_crmsync\webhook\signer;
use PHPUnit\Framework\TestCase;

/** "Generate a new signing secret" keeps the replaced one valid for the overlap, so deliveries go on. */
final class SecretRotationTest extends TestCase {
    const NOW = 1795344100;
    const DAY = 86400;

    private function config(array $rotated): object {
        return (object) ['secret' => $rotated['secret'], 'previoussecrets' => json_encode($rotated['previous'])];
    }

    public function test_the_replaced_secret_stays_valid_for_the_overlap(): void {
        $old = signer::generate_secret();
        $new = signer::generate_secret();
        $rotated = secret_rotation::rotate($old, [], $new, self::NOW, 7);
        $this->assertSame(['secret' => $new, 'previous' => [['secret' => $old, 'until' => self::NOW + 7 * self::DAY]]],
            $rotated);
        $config = $this->config($rotated);
        $during = secret_rotation::signer($config, self::NOW + 7 * self::DAY - 1)->signature('b-1', self::NOW, '{}');
        $this->assertSame((new signer($new, [$old]))->signature('b-1', self::NOW, '{}'), $during);
        $after = secret_rotation::signer($config, self::NOW + 7 * self::DAY)->signature('b-1', self::NOW, '{}');
        $this->assertSame((new signer($new))->signature('b-1', self::NOW, '{}'), $after);
    }

    /** A double click on the button must not drop the secret the receiver still has. */
    public function test_two_rotations_in_a_row_keep_both_replaced_secrets(): void {
        [$first, $second, $third] = [signer::generate_secret(), signer::generate_secret(), signer::generate_secret()];
        $once = secret_rotation::rotate($first, [], $second, self::NOW, 7);
        $twice = secret_rotation::rotate($second, $once['previous'], $third, self::NOW + 1, 7);
        $this->assertSame([$first, $second], array_column($twice['previous'], 'secret'));
        $this->assertSame((new signer($third, [$first, $second]))->signature('x', 1, '{}'),
            secret_rotation::signer($this->config($twice), self::NOW + 2)->signature('x', 1, '{}'));
    }

    public function test_expired_secrets_are_forgotten_at_the_next_rotation(): void {
        [$first, $second, $third] = [signer::generate_secret(), signer::generate_secret(), signer::generate_secret()];
        $once = secret_rotation::rotate($first, [], $second, self::NOW, 7);
        $later = secret_rotation::rotate($second, $once['previous'], $third, self::NOW + 8 * self::DAY, 7);
        $this->assertSame([$second], array_column($later['previous'], 'secret'));
    }

    public function test_no_overlap_or_no_usable_secret_before_switches_at_once(): void {
        $new = signer::generate_secret();
        $this->assertSame([], secret_rotation::rotate(signer::generate_secret(), [], $new, self::NOW, 0)['previous']);
        $this->assertSame([], secret_rotation::rotate('', [], $new, self::NOW, 7)['previous']);
        $this->assertSame([], secret_rotation::rotate('whsec_broken', [], $new, self::NOW, 7)['previous']);
        $this->assertSame([], secret_rotation::rotate($new, [], $new, self::NOW, 7)['previous']);
    }

    public function test_an_unreadable_stored_list_means_no_replaced_secret(): void {
        $this->assertSame([], secret_rotation::decode(false));
        $this->assertSame([], secret_rotation::decode('not json'));
        $this->assertSame([], secret_rotation::decode('[{"secret": 3}]'));
        $current = signer::generate_secret();
        $config = (object) ['secret' => $current, 'previoussecrets' => '[{"secret":"whsec_broken","until":9999999999}]'];
        $this->assertSame((new signer($current))->signature('x', 1, '{}'),
            secret_rotation::signer($config, self::NOW)->signature('x', 1, '{}'));
    }
}
