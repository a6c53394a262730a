'use strict';
// The benchmark flow written against modesl (FreeSWITCH's event socket), as
// a Node.js team would, doing what bench/peer/peer.js does on Asterisk:
// callers are answered and wait on music on hold with a looping
// announcement; a caller who presses 1 leaves the line, records a message
// until # (or the maximum) after a beep, hears a confirmation and is hung
// up. Agents are dial strings: when one is free, it is originated and
// bridged with the head caller; when either side hangs up, the other is
// hung up too.
//
// Calls arrive over the outbound event socket (the dialplan's "socket ADDR
// async full", one connection per call, esl.Server with myevents); agents
// are originated and bridged over one inbound connection, which sees only
// the agent legs' events (Unique-ID filters).
//
//   node peer.js --esl 127.0.0.1:8021 --pass SECRET --listen 127.0.0.1:8084 \
//     --agents sofia/callflow/agent1@127.0.0.1:5091,... [--record-dir DIR]
//
// It prints "ready" once it listens for calls and ends on SIGTERM/SIGINT.

const esl = require('modesl');
const path = require('node:path');
const { parseArgs } = require('node:util');

const { values: opt } = parseArgs({
  options: {
    esl: { type: 'string', default: '127.0.0.1:8021' },
    pass: { type: 'string' },
    listen: { type: 'string', default: '127.0.0.1:8084' },
    agents: { type: 'string', default: '' },
    announcement: { type: 'string', default: 'queue-periodic-announce.wav' },
    confirmation: { type: 'string', default: 'vm-msgsaved.wav' },
    beep: { type: 'string', default: 'tone_stream://%(250,0,800)' },
    moh: { type: 'string', default: 'local_stream://moh' },
    'record-dir': { type: 'string', default: '/tmp' },
    'announce-gap': { type: 'string', default: '2000' },
    'max-record': { type: 'string', default: '10' },
    'agent-timeout': { type: 'string', default: '15' },
  },
});
if (!opt.pass) {
  console.error('peer: --pass is required');
  process.exit(2);
}
const hostPort = (s) => {
  const i = s.lastIndexOf(':');
  return [s.slice(0, i), Number(s.slice(i + 1))];
};
const agentEndpoints = opt.agents.split(',').filter(Boolean);
const announceGap = Number(opt['announce-gap']);

const callers = new Map(); // channel uuid -> caller state
const waiting = []; // caller uuids in line, head first
const freeAgents = [...agentEndpoints];
const legs = new Map(); // agent leg uuid -> { endpoint, caller }
let legSeq = 0;

const log = (...a) => console.log(new Date().toISOString(), ...a);

// exec runs a dialplan application on the caller's outbound connection and
// resolves when FreeSWITCH reports it complete.
const exec = (c, app, arg) => new Promise((resolve) => {
  if (c.gone) { resolve(null); return; }
  c.conn.execute(app, arg, resolve);
});
// api runs an api command on a connection and resolves with its body.
const api = (conn, cmd, args) => new Promise((resolve) => {
  if (!conn.socket) { resolve(''); return; }
  conn.api(cmd, args, (res) => resolve(res ? res.getBody() : ''));
});

function main() {
  const [eslHost, eslPort] = hostPort(opt.esl);
  const inb = new esl.Connection(eslHost, eslPort, opt.pass, () => {
    // Only the agent legs' events: a placeholder filter until the first
    // originate, then one Unique-ID filter per leg; bgapi adds its Job-UUID.
    inb.usingFilters = true;
    inb.filter('Unique-ID', 'peer-no-channel', () => {
      inb.subscribe(['CHANNEL_HANGUP_COMPLETE'], listen);
    });
  });
  inb.on('error', (err) => {
    console.error('peer: event socket:', err.message);
    process.exit(1);
  });
  let stopping = false;
  inb.on('esl::end', () => {
    if (stopping) return;
    console.error('peer: event socket closed');
    process.exit(1);
  });

  const removeFromLine = (id) => {
    const i = waiting.indexOf(id);
    if (i >= 0) waiting.splice(i, 1);
  };

  // announce stops the music, plays the announcement to one waiting
  // caller, then music again for the gap, again and again. A connecting
  // caller keeps the music until the agent answers or the leg fails. gen
  // tells this loop from a newer one (stopAnnouncing starts a new one).
  async function announce(c, gen) {
    const current = () => c.state === 'waiting' && c.gen === gen;
    if (!current()) return;
    await api(c.conn, 'uuid_break', `${c.id} all`);
    if (!current()) return;
    await exec(c, 'playback', opt.announcement);
    if (!current()) return;
    exec(c, 'playback', opt.moh); // ends at the next uuid_break
    c.timer = setTimeout(() => announce(c, gen).catch(fail(c)), announceGap);
  }

  function startAnnouncing(c) {
    stopAnnouncing(c);
    announce(c, c.gen).catch(fail(c));
  }

  function stopAnnouncing(c) {
    clearTimeout(c.timer);
    c.timer = null;
    c.gen++;
  }

  const fail = (c) => (err) => {
    log(`call ${c.id}: ${err.message}`);
    api(c.conn, 'uuid_kill', c.id);
  };

  async function inbound(conn) {
    const id = conn.getInfo().getHeader('Unique-ID');
    const c = { id, conn, state: 'answering', timer: null, gen: 0, agentLeg: null, gone: false };
    callers.set(id, c);
    conn.on(`esl::event::DTMF::${id}`, (evt) => {
      if (evt.getHeader('DTMF-Digit') !== '1' || (c.state !== 'waiting' && c.state !== 'connecting')) return;
      leaveMessage(c).catch(fail(c));
    });
    conn.on('esl::end', () => callerGone(c));
    await exec(c, 'set', 'playback_terminators=none');
    await exec(c, 'answer', '');
    if (c.gone) return;
    c.state = 'waiting';
    waiting.push(id);
    startAnnouncing(c);
    dispatch();
  }

  async function leaveMessage(c) {
    removeFromLine(c.id);
    stopAnnouncing(c);
    if (c.agentLeg) api(inb, 'uuid_kill', c.agentLeg);
    c.state = 'recording';
    await api(c.conn, 'uuid_break', `${c.id} all`);
    await api(c.conn, 'uuid_setvar', `${c.id} playback_terminators #`);
    await exec(c, 'playback', opt.beep);
    await exec(c, 'record', `${path.join(opt['record-dir'], `peer-${c.id}.wav`)} ${Number(opt['max-record'])}`);
    c.state = 'confirming';
    await exec(c, 'playback', opt.confirmation);
    await exec(c, 'hangup', '');
  }

  function callerGone(c) {
    if (c.gone) return;
    c.gone = true;
    callers.delete(c.id);
    removeFromLine(c.id);
    stopAnnouncing(c);
    if (c.agentLeg) api(inb, 'uuid_kill', c.agentLeg);
  }

  // dispatch gives free agents to the callers at the head of the line.
  function dispatch() {
    while (freeAgents.length > 0 && waiting.length > 0) {
      const endpoint = freeAgents.shift();
      const c = callers.get(waiting.shift());
      c.state = 'connecting';
      const legId = `peer-agent-${process.pid}-${++legSeq}`;
      c.agentLeg = legId;
      legs.set(legId, { endpoint, caller: c.id });
      inb.filter('Unique-ID', legId, () => {
        const vars = `{origination_uuid=${legId},originate_timeout=${Number(opt['agent-timeout'])},ignore_early_media=true}`;
        inb.bgapi('originate', `${vars}${endpoint} &park()`, (job) => {
          const body = job.getBody() || '';
          if (body.startsWith('+OK')) {
            agentAnswered(legId).catch((err) => log(`agent ${legId}: ${err.message}`));
          } else {
            log(`originate ${endpoint}: ${body.trim()}`);
            agentGone(legId);
          }
        });
      });
    }
  }

  // agentGone frees an agent whose leg ended, and puts a caller who was
  // being connected back at the head of the line.
  function agentGone(legId) {
    const l = legs.get(legId);
    if (!l) return;
    legs.delete(legId);
    inb.filterDelete('Unique-ID', legId);
    freeAgents.push(l.endpoint);
    const c = callers.get(l.caller);
    if (c && c.agentLeg === legId) {
      c.agentLeg = null;
      if (c.state === 'connecting') {
        c.state = 'waiting';
        waiting.unshift(c.id);
        startAnnouncing(c);
      } else if (c.state === 'talking') {
        api(c.conn, 'uuid_kill', c.id);
      }
    }
    dispatch();
  }

  async function agentAnswered(legId) {
    const l = legs.get(legId);
    const c = l && callers.get(l.caller);
    if (!c || c.state !== 'connecting' || c.agentLeg !== legId) {
      await api(inb, 'uuid_kill', legId);
      return;
    }
    c.state = 'talking';
    stopAnnouncing(c);
    await api(c.conn, 'uuid_break', `${c.id} all`);
    const res = await api(inb, 'uuid_bridge', `${c.id} ${legId}`);
    if (!res.startsWith('+OK')) {
      log(`bridge ${c.id} ${legId}: ${res.trim()}`);
      api(inb, 'uuid_kill', legId);
    }
  }

  function listen() {
    inb.on('esl::event::CHANNEL_HANGUP_COMPLETE::*', (evt) => {
      agentGone(evt.getHeader('Unique-ID'));
    });
    const [host, port] = hostPort(opt.listen);
    const server = new esl.Server({ host, port, myevents: true }, () => log('ready'));
    server.on('connection::ready', (conn) => {
      inbound(conn).catch((err) => log(`inbound: ${err.message}`));
    });
    server.on('connection::open', (conn) => {
      conn.on('error', (err) => log(`call connection: ${err.message}`));
    });
    server.server.on('error', (err) => {
      console.error('peer: listen:', err.message);
      process.exit(1);
    });

    const stop = () => {
      log('stopping');
      stopping = true;
      server.close();
      setTimeout(() => process.exit(0), 500).unref();
      inb.disconnect();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  }
}

main();
