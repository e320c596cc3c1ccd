<?php
use local_crmsync\webhook\signer;
use PHPUnit\Framework\TestCase;

final class SignerTest extends TestCase {
    /** The example of the Standard Webhooks specification: same secret, id, time and body, same signature. */
    public function test_matches_the_specification_example(): void {
        $signer = new signer('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
        $body = '{"test": 2432232314}';
        $this->assertSame('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
            $signer->signature('msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, $body));
    }

    public function test_headers_carry_id_timestamp_and_signature(): void {
        $signer = new signer(signer::generate_secret());
        $headers = $signer->headers('id-1', 1700000000, '{}');
        $this->assertSame(['webhook-id', 'webhook-timestamp', 'webhook-signature'], array_keys($headers));
        $this->assertSame('1700000000', $headers['webhook-timestamp']);
        $this->assertStringStartsWith('v1,', $headers['webhook-signature']);
    }

    public function test_a_different_body_gives_a_different_signature(): void {
        $signer = new signer('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
        $this->assertNotSame($signer->signature('a', 1, '{"x":1}'), $signer->signature('a', 1, '{"x":2}'));
    }

    public function test_refuses_a_secret_without_the_prefix(): void {
        $this->expectException(\InvalidArgumentException::class);
        new signer('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    }

    /** Standard Webhooks: several space-separated signatures; the receiver accepts the message if any verifies. */
    public function test_signs_with_every_secret_given_new_first(): void {
        $new = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
        $old = signer::generate_secret();
        $both = (new signer($new, [$old]))->signature('msg-1', 1700000000, '{"events":[]}');
        $this->assertSame((new signer($new))->signature('msg-1', 1700000000, '{"events":[]}') . ' '
            . (new signer($old))->signature('msg-1', 1700000000, '{"events":[]}'), $both);
        $this->assertMatchesRegularExpression('~^v1,[A-Za-z0-9+/]{43}= v1,[A-Za-z0-9+/]{43}=$~', $both);
    }

    public function test_a_previous_secret_equal_to_the_current_one_signs_once(): void {
        $secret = signer::generate_secret();
        $this->assertSame((new signer($secret))->signature('a', 1, '{}'), (new signer($secret, [$secret]))->signature('a', 1, '{}'));
    }

    public function test_refuses_an_unusable_previous_secret(): void {
        $this->assertFalse(signer::is_valid('whsec_short'));
        $this->assertTrue(signer::is_valid(signer::generate_secret()));
        $this->expectException(\InvalidArgumentException::class);
        new signer(signer::generate_secret(), ['not-a-secret']);
    }
}
