#!/usr/bin/env node
/*
 * EsiaAccounts through the node `soap` package, the way a Node МИС would call it.
 *
 * Usage:  node esia_accounts.js WSDL_URL [JSON]      (JSON on stdin when not given on argv)
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

'use strict';

const fs = require('fs');

function failStart(why) {
  process.stderr.write(`esia_accounts.js: ${why}\n`);
  process.exit(2);
}

let soap;
try {
  soap = require('soap');
} catch (e) {
  failStart(`the "soap" package is not installed (run: npm ci --prefix tests/interop/node): ${e.message}`);
}
const soapVersion = require('soap/package.json').version;

// node-soap gives one repeated element as a scalar/object and several as an array: make it a list.
function asList(value) {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function checkAnswer(response) {
  const r = response && response.CheckPatientResult;
  if (!r) return { unexpected: response };
  const diffs = r.Differences ? asList(r.Differences.FieldDifference) : [];
  return {
    Result: r.Result ?? null,
    AccountConfirmed: r.AccountConfirmed ?? null,
    Differences: diffs.map((d) => ({
      Field: d.Field ?? null, Label: d.Label ?? null, MisValue: d.MisValue ?? null, EsiaValue: d.EsiaValue ?? null,
    })),
    AllowedActions: r.AllowedActions ? asList(r.AllowedActions.AllowedAction) : null,
    Message: r.Message ?? null,
  };
}

function passwordAnswer(wrapper) {
  return (response) => {
    const r = response && response[wrapper];
    if (!r) return { unexpected: response };
    return { Login: r.Login ?? null, TemporaryPassword: r.TemporaryPassword ?? null, Message: r.Message ?? null };
  };
}

function updateAnswer(response) {
  const r = response && response.UpdatePatientResult;
  return r ? { Message: r.Message ?? null } : { unexpected: response };
}

function faultOf(err) {
  // node-soap: err.root.Envelope.Body.Fault = {faultcode, faultstring, ...} for a SOAP Fault
  const fault = err && err.root && err.root.Envelope && err.root.Envelope.Body && err.root.Envelope.Body.Fault;
  if (!fault) return null;
  return { code: fault.faultcode ?? null, string: fault.faultstring ?? null };
}

function readStdin() {
  try {
    return fs.readFileSync(0, 'utf8');
  } catch (e) {
    return '';
  }
}

async function main() {
  const wsdl = process.argv[2] || failStart('WSDL URL expected as the first argument');
  const raw = process.argv[3] !== undefined ? process.argv[3] : readStdin();
  let input;
  try {
    input = JSON.parse(raw);
  } catch (e) {
    input = null;
  }
  if (!input || typeof input.patient !== 'object' || !input.changedMobilePhone || !input.badSnils) {
    failStart('JSON {"patient": {...}, "changedMobilePhone": "8XXXXXXXXXX", "badSnils": "..."} expected on argv[3] or stdin');
  }
  const patient = { ...input.patient };

  let client;
  try {
    client = await soap.createClientAsync(wsdl);
  } catch (e) {
    failStart(`soap.createClientAsync could not consume the WSDL: ${e.stack || e}`);
  }

  const steps = {};
  const exchanges = {};
  async function call(name, operation, body, shape) {
    try {
      const [result] = await client[`${operation}Async`]({ Patient: body });
      steps[name] = shape(result);
    } catch (err) {
      const fault = faultOf(err);
      steps[name] = fault ? { fault } : { error: String((err && err.stack) || err) };
    }
    exchanges[name] = { request: client.lastRequest ?? null, response: client.lastResponse ?? null };
  }

  const withoutPhone = { ...patient };
  delete withoutPhone.MobilePhone;

  await call('check_new', 'CheckPatient', patient, checkAnswer);
  await call('check_bad_snils', 'CheckPatient', { ...patient, Snils: input.badSnils }, checkAnswer);
  await call('register_without_phone', 'RegisterPatient', withoutPhone, passwordAnswer('RegisterPatientResult'));
  await call('register', 'RegisterPatient', patient, passwordAnswer('RegisterPatientResult'));
  patient.MobilePhone = input.changedMobilePhone;
  await call('check_changed', 'CheckPatient', patient, checkAnswer);
  await call('update', 'UpdatePatient', patient, updateAnswer);
  await call('check_updated', 'CheckPatient', patient, checkAnswer);
  await call('reset', 'ResetPassword', patient, passwordAnswer('ResetPasswordResult'));

  process.stdout.write(`${JSON.stringify({
    client: `node ${process.version} soap ${soapVersion}`, steps, exchanges,
  }, null, 2)}\n`);
}

main().catch((e) => failStart(`unexpected failure: ${e.stack || e}`));
