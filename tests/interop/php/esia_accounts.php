<?php
/*
 * EsiaAccounts through PHP's own SoapClient (ext-soap), the way a PHP МИС would call it.
 *
 * Usage:  php esia_accounts.php WSDL_URL [JSON]      (JSON on stdin when not given on argv)
 *
 * JSON:   {"patient": {...Patient elements...}, "changedMobilePhone": "8XXXXXXXXXX",
 *          "badSnils": "11 digits with wrong check digits"}
 *
 * Runs the whole flow and prints one JSON object on stdout:
 *   {"client": "...", "steps": {"check_new": ..., "check_bad_snils": ..., "register_without_phone": ...,
 *    "register": ...,
 *    "check_changed": ..., "update": ..., "check_updated": ..., "reset": ...}}
 * Each step is either the answer (plain JSON, element names kept) or {"fault": {"code", "string"}};
 * "exchanges" holds the raw request/response XML of each step, for a failing test's message.
 * Exit status 2 means the client could not even start (bad arguments, WSDL not consumable).
 */

declare(strict_types=1);

ini_set('default_socket_timeout', '20');

function fail_start(string $why): void
{
    fwrite(STDERR, "esia_accounts.php: $why\n");
    exit(2);
}

/* ext-soap gives one repeated element as a scalar/object and several as an array: make it a list. */
function as_list($value): array
{
    if ($value === null) {
        return [];
    }
    return is_array($value) ? array_values($value) : [$value];
}

function check_answer($response): array
{
    $r = $response->CheckPatientResult ?? null;
    if ($r === null) {
        return ['unexpected' => $response];
    }
    $differences = [];
    $diffs = isset($r->Differences) ? as_list($r->Differences->FieldDifference ?? null) : [];
    foreach ($diffs as $d) {
        $differences[] = [
            'Field' => $d->Field ?? null,
            'Label' => $d->Label ?? null,
            'MisValue' => $d->MisValue ?? null,
            'EsiaValue' => $d->EsiaValue ?? null,
        ];
    }
    return [
        'Result' => $r->Result ?? null,
        'AccountConfirmed' => $r->AccountConfirmed ?? null,
        'Differences' => $differences,
        'AllowedActions' => isset($r->AllowedActions) ? as_list($r->AllowedActions->AllowedAction ?? null) : null,
        'Message' => $r->Message ?? null,
    ];
}

function password_answer($response, string $wrapper): array
{
    $r = $response->$wrapper ?? null;
    if ($r === null) {
        return ['unexpected' => $response];
    }
    return ['Login' => $r->Login ?? null, 'TemporaryPassword' => $r->TemporaryPassword ?? null, 'Message' => $r->Message ?? null];
}

function update_answer($response): array
{
    $r = $response->UpdatePatientResult ?? null;
    return $r === null ? ['unexpected' => $response] : ['Message' => $r->Message ?? null];
}

$wsdl = $argv[1] ?? fail_start('WSDL URL expected as the first argument');
$raw = $argv[2] ?? stream_get_contents(STDIN);
$input = json_decode((string) $raw, true);
if (!is_array($input) || !is_array($input['patient'] ?? null) || !isset($input['changedMobilePhone'], $input['badSnils'])) {
    fail_start('JSON {"patient": {...}, "changedMobilePhone": "8XXXXXXXXXX", "badSnils": "..."} expected on argv[2] or stdin');
}
$patient = $input['patient'];

try {
    $client = new SoapClient($wsdl, ['trace' => 1, 'exceptions' => true, 'cache_wsdl' => WSDL_CACHE_NONE]);
} catch (Throwable $e) {
    fail_start('SoapClient could not consume the WSDL: ' . get_class($e) . ': ' . $e->getMessage());
}

$steps = [];
$exchanges = [];

$call = function (string $name, string $operation, array $patient, callable $shape) use ($client, &$steps, &$exchanges): void {
    try {
        $steps[$name] = $shape($client->$operation(['Patient' => $patient]));
    } catch (SoapFault $f) {
        $steps[$name] = ['fault' => ['code' => $f->faultcode ?? null, 'string' => $f->faultstring ?? $f->getMessage()]];
    } catch (Throwable $e) {
        $steps[$name] = ['error' => get_class($e) . ': ' . $e->getMessage()];
    }
    $exchanges[$name] = ['request' => $client->__getLastRequest(), 'response' => $client->__getLastResponse()];
};

$withoutPhone = $patient;
unset($withoutPhone['MobilePhone']);

$call('check_new', 'CheckPatient', $patient, 'check_answer');
$call('check_bad_snils', 'CheckPatient', array_merge($patient, ['Snils' => $input['badSnils']]), 'check_answer');
$call('register_without_phone', 'RegisterPatient', $withoutPhone, fn ($r) => password_answer($r, 'RegisterPatientResult'));
$call('register', 'RegisterPatient', $patient, fn ($r) => password_answer($r, 'RegisterPatientResult'));
$patient['MobilePhone'] = $input['changedMobilePhone'];
$call('check_changed', 'CheckPatient', $patient, 'check_answer');
$call('update', 'UpdatePatient', $patient, 'update_answer');
$call('check_updated', 'CheckPatient', $patient, 'check_answer');
$call('reset', 'ResetPassword', $patient, fn ($r) => password_answer($r, 'ResetPasswordResult'));

echo json_encode(
    ['client' => 'php ' . PHP_VERSION . ' ext-soap', 'steps' => $steps, 'exchanges' => $exchanges],
    JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_PRETTY_PRINT
), "\n";
