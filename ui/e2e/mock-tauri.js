// Injected into the page before the app loads (page.addInitScript): a stand-in
// for the Tauri shell. It answers commands from window.__TETHER_MOCK_CONFIG__,
// records every call, and gives the test hooks to push `tether-event`
// payloads and binary video frames the way the real shell would.
// Plain JS on purpose: it is loaded as-is, not bundled with the app.
(() => {
  const config = window.__TETHER_MOCK_CONFIG__ || {};
  const callbacks = new Map();
  const listeners = new Map(); // event name -> [callback id]
  let nextId = 1;
  const calls = [];
  let videoChannel = null; // { id, index }

  function transformCallback(cb, once) {
    const id = nextId++;
    callbacks.set(id, (data) => {
      if (once) callbacks.delete(id);
      return cb && cb(data);
    });
    return id;
  }

  function reply(cmd, args) {
    const errors = config.errors || {};
    if (errors[cmd]) return Promise.reject(errors[cmd]);
    switch (cmd) {
      case 'get_settings':
        return Promise.resolve(config.settings);
      case 'set_settings':
        config.settings = args.settings;
        return Promise.resolve(args.settings);
      case 'list_devices':
        return Promise.resolve(config.devices);
      case 'get_connection_state':
        return Promise.resolve(config.connection || { state: 'DISCONNECTED', channel: null, uid: null });
      case 'join':
        return Promise.resolve({ channel: args.channel, uid: config.uid, server: 'ws://127.0.0.1:7800' });
      case 'open_video':
        videoChannel = { id: args.onFrame.id, index: 0 };
        return Promise.resolve(null);
      case 'get_invite':
        return Promise.resolve(config.invite || null);
      case 'answer_invite': {
        const pending = config.invite;
        if (!pending || pending.id !== args.id) {
          return Promise.reject({ code: 'NO_INVITE', message: 'that invitation is no longer pending' });
        }
        config.invite = null;
        emitNamed('tether-invite', null);
        if (!args.accept) return Promise.resolve(null);
        // Accepted: from now on the shell reports the call the link named.
        config.connection = { state: 'CONNECTING', channel: pending.channel, uid: config.uid, server: pending.server };
        return Promise.resolve({ channel: pending.channel, uid: config.uid, server: pending.server || 'ws://127.0.0.1:7800' });
      }
      case 'export_diagnostics':
        return Promise.resolve(config.diagnosticsPath || '/tmp/tether-diagnostics.json');
      default:
        return Promise.resolve(null);
    }
  }

  async function invoke(cmd, args) {
    args = args || {};
    if (cmd === 'plugin:event|listen') {
      const list = listeners.get(args.event) || [];
      list.push(args.handler);
      listeners.set(args.event, list);
      return args.handler;
    }
    if (cmd === 'plugin:event|unlisten') {
      const list = listeners.get(args.event) || [];
      listeners.set(
        args.event,
        list.filter((id) => id !== args.eventId),
      );
      return null;
    }
    const recorded = {};
    for (const [k, v] of Object.entries(args)) recorded[k] = k === 'onFrame' ? '<channel>' : v;
    calls.push({ cmd, args: recorded });
    return reply(cmd, args);
  }

  window.__TAURI_INTERNALS__ = {
    invoke,
    transformCallback,
    unregisterCallback: (id) => callbacks.delete(id),
    runCallback: (id, data) => callbacks.get(id) && callbacks.get(id)(data),
    callbacks,
    metadata: { currentWindow: { label: 'main' }, currentWebview: { windowLabel: 'main', label: 'main' } },
  };
  window.__TAURI_EVENT_PLUGIN_INTERNALS__ = {
    unregisterListener: (_event, id) => callbacks.delete(id),
  };

  /** A test pattern frame: colour bars that shift with the frame number. */
  function testFrame(uid, width, height, frameNo, hue, flags) {
    const buf = new ArrayBuffer(16 + width * height * 4);
    const v = new DataView(buf);
    v.setUint32(0, uid, true);
    v.setUint16(4, width, true);
    v.setUint16(6, height, true);
    v.setUint32(8, frameNo, true);
    v.setUint32(12, flags || 0, true);
    const px = new Uint8ClampedArray(buf, 16);
    const bars = [
      [230, 230, 230],
      [230, 230, 40],
      [40, 230, 230],
      [40, 230, 40],
      [230, 40, 230],
      [230, 40, 40],
      [40, 40, 230],
    ];
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = (y * width + x) * 4;
        const bar = bars[Math.floor(((x + frameNo * 4) % width) / (width / bars.length)) % bars.length];
        const shade = y < height * 0.75 ? 1 : 0.35;
        px[i] = Math.min(255, bar[0] * shade + (hue || 0));
        px[i + 1] = bar[1] * shade;
        px[i + 2] = bar[2] * shade;
        px[i + 3] = 255;
      }
    }
    return buf;
  }

  function emitNamed(event, payload) {
    for (const id of listeners.get(event) || []) {
      const cb = callbacks.get(id);
      if (cb) cb({ event, id, payload });
    }
  }

  window.__tetherMock = {
    calls,
    /** Deliver one `tether-event` payload to the app's listeners. */
    emit(payload) {
      emitNamed('tether-event', payload);
    },
    /** A link was opened: the shell offers its invitation (as `tether-invite`). */
    invite(invite) {
      config.invite = invite;
      emitNamed('tether-invite', invite);
    },
    listenerCount: () => (listeners.get('tether-event') || []).length,
    videoOpen: () => videoChannel !== null,
    /** Send one binary frame on the open_video channel (as Tauri delivers raw bytes); flags 1: the local preview. */
    frame(uid, width, height, frameNo, hue, flags) {
      if (!videoChannel) return false;
      const cb = callbacks.get(videoChannel.id);
      if (!cb) return false;
      cb({ index: videoChannel.index++, message: testFrame(uid, width, height, frameNo, hue, flags) });
      return true;
    },
  };
})();
