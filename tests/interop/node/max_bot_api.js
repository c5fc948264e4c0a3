// MAX's official TypeScript client (npm @maxhub/max-bot-api, pinned in package.json) driving the
// sandbox MAX as a bot would: start-up reads, long polling, a reply with an inline keyboard, a
// press answered, the message edited, then deleted; pins in a group chat.
//
// Input (stdin, JSON): {base_url, token, user_id, group_id}. Every Bot API call goes through the
// library; only the scripted user (the sandbox's control API, /_sandbox/max/...) is called with fetch.
// Output (stdout, JSON): what the library returned at each step, and any error it raised.
'use strict';

const { Bot, Keyboard } = require('@maxhub/max-bot-api');

const STEP_TIMEOUT_MS = 15000;

function readStdin() {
  return new Promise((resolve, reject) => {
    let data = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk) => { data += chunk; });
    process.stdin.on('end', () => resolve(JSON.parse(data)));
    process.stdin.on('error', reject);
  });
}

function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
  const timer = setTimeout(() => reject(new Error('timed out waiting for the bot')), STEP_TIMEOUT_MS);
  return { promise, resolve: (v) => { clearTimeout(timer); resolve(v); }, reject };
}

function describe(err) {
  return { name: err && err.name, status: err && err.status, code: err && err.code,
    message: err && (err.description || err.message) };
}

async function main() {
  const input = await readStdin();
  const out = { errors: [] };
  const control = async (method, path, body) => {
    const res = await fetch(`${input.base_url}/_sandbox/max${path}`, {
      method, headers: { 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined,
    });
    if (!res.ok) throw new Error(`control ${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json();
  };

  const bot = new Bot(input.token, { clientOptions: { baseUrl: input.base_url } });
  bot.catch((err) => { out.errors.push(describe(err)); });

  // Start-up: who am I, the chats I work in, my rights there, what is pinned.
  out.me = await bot.api.getMyInfo();
  out.chat = await bot.api.getChat(input.group_id);
  out.members = await bot.api.getChatMembers(input.group_id);
  out.membership = await bot.api.getChatMembership(input.group_id);
  out.admins = await bot.api.getChatAdmins(input.group_id);
  out.pin_before = await bot.api.getPinnedMessage(input.group_id);
  const notice = await bot.api.sendMessageToChat(input.group_id, 'Консультация начнётся в 10:00');
  out.pin = await bot.api.pinMessage(input.group_id, notice.body.mid);
  out.pin_after = await bot.api.getPinnedMessage(input.group_id);
  out.unpin = await bot.api.unpinMessage(input.group_id);
  // The library's own transport, on a path MAX does not have: {status, data} as MAX answered.
  out.unknown = await bot.api.raw.bots.call({ method: 'no/such/method', options: { method: 'GET' } });

  const replied = deferred();
  const pressed = deferred();
  bot.on('bot_started', async (ctx) => {
    const keyboard = Keyboard.inlineKeyboard([
      [Keyboard.button.callback('Да', 'yes'), Keyboard.button.callback('Нет', 'no')],
      [Keyboard.button.link('Портал', 'https://portal.example/b/1')],
    ]);
    replied.resolve(await ctx.reply('Подтвердите запись', { attachments: [keyboard] }));
  });
  bot.action('yes', async (ctx) => {
    const answer = await ctx.answerOnCallback({ notification: 'Запись подтверждена' });
    const edit = await ctx.editMessage({ text: 'Вы записаны на 10:00', attachments: [] });
    pressed.resolve({ answer, edit, callback_id: ctx.callback.callback_id, mid: ctx.messageId });
  });

  const polling = bot.start(); // GET /me (cached), GET /subscriptions, then GET /updates in a loop
  await control('POST', `/users/${input.user_id}/start`, { first_name: 'Анна' });
  out.sent = await replied.promise;
  await control('POST', `/users/${input.user_id}/press`, { payload: 'yes' });
  out.pressed = await pressed.promise;
  out.delete = await bot.api.deleteMessage(out.pressed.mid);
  bot.stopPolling();
  await polling;
  process.stdout.write(JSON.stringify(out));
}

main().then(() => process.exit(0)).catch((err) => {
  process.stdout.write(JSON.stringify({ fatal: describe(err), stack: String(err && err.stack) }));
  process.exit(1);
});
