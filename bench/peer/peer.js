'use strict';
// The benchmark flow written against ari-client, as a Node.js team would:
// callers are answered and wait in one holding bridge with music on hold and
// a looping announcement; a caller who presses 1 leaves the bridge, records a
// message until # (or the maximum), hears a confirmation and is hung up.
// Agents are endpoints: when one is free, it is originated and bridged with
// the head caller; when either side hangs up, the other is hung up too.
//
//   node peer.js --url http://127.0.0.1:8088 --user callflow --pass SECRET \
//     --agents PJSIP/agent1,PJSIP/agent2 [--app callflow]
//
// It prints "ready" once its Stasis application is registered and ends on
// SIGTERM/SIGINT.

const ari = require('ari-client');
const { parseArgs } = require('node:util');

const { values: opt } = parseArgs({
  options: {
    url: { type: 'string', default: 'http://127.0.0.1:8088' },
    user: { type: 'string', default: 'callflow' },
    pass: { type: 'string' },
    app: { type: 'string', default: 'callflow' },
    agents: { type: 'string', default: '' },
    announcement: { type: 'string', default: 'sound:queue-periodic-announce' },
    confirmation: { type: 'string', default: 'sound:vm-msgsaved' },
    'announce-gap': { type: 'string', default: '2000' },
    'max-record': { type: 'string', default: '10' },
    'agent-timeout': { type: 'string', default: '15' },
  },
});
if (!opt.pass) {
  console.error('peer: --pass is required');
  process.exit(2);
}
const agentEndpoints = opt.agents.split(',').filter(Boolean);
const announceGap = Number(opt['announce-gap']);

const callers = new Map(); // channel id -> caller state
const waiting = []; // caller ids in line, head first
const freeAgents = [...agentEndpoints];
const legs = new Map(); // agent channel id -> { endpoint, caller }

const log = (...a) => console.log(new Date().toISOString(), ...a);
const ignore = (what) => (err) => log(`${what}: ${err.message}`);

async function main() {
  const client = await ari.connect(opt.url, opt.user, opt.pass);
  const holding = client.Bridge();
  await holding.create({ type: 'holding', name: 'peer-line' });
  await holding.startMoh({ mohClass: 'default' });

  const removeFromLine = (id) => {
    const i = waiting.indexOf(id);
    if (i >= 0) waiting.splice(i, 1);
  };

  // announce plays the announcement to one waiting caller, again and again.
  // The playback id is chosen before the request, so its events cannot be
  // missed.
  function announce(c) {
    if (c.state !== 'waiting') return;
    const pb = client.Playback();
    c.playback = pb;
    pb.once('PlaybackFinished', () => {
      if (c.playback !== pb) return;
      c.playback = null;
      c.timer = setTimeout(() => announce(c), announceGap);
    });
    c.channel.play({ media: opt.announcement }, pb).catch(ignore(`play to ${c.id}`));
  }

  function stopAnnouncing(c) {
    clearTimeout(c.timer);
    if (c.playback) {
      c.playback.stop().catch(() => {});
      c.playback = null;
    }
  }

  async function inbound(channel) {
    const c = { id: channel.id, channel, state: 'waiting', playback: null, timer: null, agentLeg: null };
    callers.set(c.id, c);
    await channel.answer();
    await holding.addChannel({ channel: c.id });
    waiting.push(c.id);
    announce(c);
    dispatch();
  }

  async function leaveMessage(c) {
    removeFromLine(c.id);
    stopAnnouncing(c);
    if (c.agentLeg) client.channels.hangup({ channelId: c.agentLeg }).catch(() => {});
    c.state = 'recording';
    await holding.removeChannel({ channel: c.id });
    const rec = client.LiveRecording();
    const done = new Promise((resolve) => {
      rec.once('RecordingFinished', resolve);
      rec.once('RecordingFailed', resolve);
    });
    await c.channel.record({
      name: `peer-${c.id}`, format: 'wav', maxDurationSeconds: Number(opt['max-record']),
      beep: true, terminateOn: '#', ifExists: 'overwrite',
    }, rec);
    await done;
    c.state = 'confirming';
    const pb = client.Playback();
    const played = new Promise((resolve) => {
      pb.once('PlaybackFinished', resolve);
    });
    await c.channel.play({ media: opt.confirmation }, pb);
    await played;
    await c.channel.hangup();
  }

  // dispatch gives free agents to the callers at the head of the line.
  function dispatch() {
    while (freeAgents.length > 0 && waiting.length > 0) {
      const endpoint = freeAgents.shift();
      const c = callers.get(waiting.shift());
      c.state = 'connecting';
      const leg = client.Channel();
      c.agentLeg = leg.id;
      legs.set(leg.id, { endpoint, caller: c.id, bridge: null });
      leg.originate({
        endpoint, app: opt.app, appArgs: 'agent', timeout: Number(opt['agent-timeout']),
      }).catch((err) => {
        log(`originate ${endpoint}: ${err.message}`);
        agentGone(leg.id);
      });
    }
  }

  // agentGone frees an agent whose leg ended, and puts a caller who was
  // being connected back at the head of the line.
  function agentGone(legId) {
    const l = legs.get(legId);
    if (!l) return;
    legs.delete(legId);
    freeAgents.push(l.endpoint);
    const c = callers.get(l.caller);
    if (c && c.agentLeg === legId) {
      c.agentLeg = null;
      if (c.state === 'connecting') {
        c.state = 'waiting';
        waiting.unshift(c.id);
        announce(c);
      } else if (c.state === 'talking') {
        c.channel.hangup().catch(() => {});
      }
    }
    if (l.bridge) l.bridge.destroy().catch(() => {});
    dispatch();
  }

  async function agentAnswered(channel) {
    const l = legs.get(channel.id);
    const c = l && callers.get(l.caller);
    if (!c || c.state !== 'connecting') {
      await channel.hangup();
      return;
    }
    c.state = 'talking';
    stopAnnouncing(c);
    const bridge = client.Bridge();
    l.bridge = bridge;
    await bridge.create({ type: 'mixing' });
    await holding.removeChannel({ channel: c.id });
    await bridge.addChannel({ channel: [c.id, channel.id].join(',') });
  }

  client.on('StasisStart', (event, channel) => {
    const work = event.args[0] === 'agent' ? agentAnswered(channel) : inbound(channel);
    work.catch(ignore(`start ${channel.id}`));
  });

  client.on('ChannelDtmfReceived', (event, channel) => {
    const c = callers.get(channel.id);
    if (!c || event.digit !== '1' || (c.state !== 'waiting' && c.state !== 'connecting')) return;
    leaveMessage(c).catch((err) => {
      log(`message of ${c.id}: ${err.message}`);
      c.channel.hangup().catch(() => {});
    });
  });

  client.on('StasisEnd', (event, channel) => {
    if (legs.has(channel.id)) {
      agentGone(channel.id);
      return;
    }
    const c = callers.get(channel.id);
    if (!c) return;
    callers.delete(c.id);
    removeFromLine(c.id);
    clearTimeout(c.timer);
    if (c.agentLeg) client.channels.hangup({ channelId: c.agentLeg }).catch(() => {});
  });

  // An originated agent that never answers ends without StasisStart/End.
  client.on('ChannelDestroyed', (event, channel) => {
    if (legs.has(channel.id)) agentGone(channel.id);
  });

  await client.start(opt.app);
  log('ready');

  const stop = () => {
    log('stopping');
    client.stop();
    holding.destroy().catch(() => {}).finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  console.error('peer:', err.message);
  process.exit(1);
});
