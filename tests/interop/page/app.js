/* Interop test page logic (see index.html). Everything observable goes into window.__log. */
(function () {
  'use strict';

  var params = new URLSearchParams(window.location.search);
  var build = params.get('build') || '2.22.0';
  var token = params.get('token') || '';
  var myName = params.get('name') || 'Browser';
  var wantPublish = params.get('publish') === '1';

  var log = [];
  window.__log = log;
  window.__state = { phase: 'loading', build: build, connectionId: null, error: null };

  function record(entry) {
    entry.at = Date.now();
    log.push(entry);
  }

  function setPhase(phase) {
    window.__state.phase = phase;
    document.getElementById('status').textContent = phase;
  }

  function fail(where, err) {
    var msg = where + ': ' + (err && (err.message || err.name) ? (err.name || '') + ' ' + (err.message || '') : String(err));
    window.__state.error = msg;
    record({ event: 'error', where: where, message: msg });
    setPhase('error');
  }

  window.addEventListener('error', function (ev) {
    record({ event: 'pageError', message: String(ev.message) });
  });
  window.addEventListener('unhandledrejection', function (ev) {
    record({ event: 'pageError', message: 'unhandled rejection: ' + String(ev.reason && ev.reason.message || ev.reason) });
  });

  // connection.data is "<clientData>%/%<serverData>" (either part may be alone). The seed app
  // does JSON.parse(connection.data).clientData; split first so server data cannot break it.
  function clientName(data) {
    if (typeof data !== 'string' || data === '') { return null; }
    var first = data.split('%/%')[0];
    try {
      var parsed = JSON.parse(first);
      if (parsed && typeof parsed === 'object' && typeof parsed.clientData === 'string') {
        return parsed.clientData;
      }
      return null;
    } catch (e) {
      return null;
    }
  }

  // Exactly what the seed app does; throws (-> recorded as an error string) when server data
  // was appended to the client data.
  function seedAppName(data) {
    try {
      return JSON.parse(data).clientData;
    } catch (e) {
      return 'JSON.parse failed: ' + e.message;
    }
  }

  // --- video tiles and their frame counters ------------------------------------------------
  var tiles = [];  // {video, role, streamId, connectionId, name, frames}

  function countFrames(tile) {
    var v = tile.video;
    if (typeof v.requestVideoFrameCallback === 'function') {
      var onFrame = function () {
        tile.frames += 1;
        v.requestVideoFrameCallback(onFrame);
      };
      v.requestVideoFrameCallback(onFrame);
    }
  }

  function addTile(role, streamId, connectionId, name) {
    var div = document.createElement('div');
    div.className = 'tile';
    var video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    if (role === 'publisher') { video.muted = true; }
    var label = document.createElement('span');
    label.className = 'name';
    label.textContent = (name || '?') + ' (' + role + ')';
    div.appendChild(video);
    div.appendChild(label);
    document.getElementById('videos').appendChild(div);
    var tile = { video: video, div: div, role: role, streamId: streamId, connectionId: connectionId,
                 name: name, frames: 0 };
    tiles.push(tile);
    countFrames(tile);
    return tile;
  }

  var probe = document.createElement('canvas');
  probe.width = 64;
  probe.height = 48;

  // Mean and standard deviation of the luma of a 64x48 downscale: a flat picture (black, one
  // colour) has a tiny deviation, real picture content does not.
  function luma(video) {
    if (!video.videoWidth || !video.videoHeight) { return null; }
    try {
      var ctx = probe.getContext('2d', { willReadFrequently: true });
      ctx.drawImage(video, 0, 0, probe.width, probe.height);
      var px = ctx.getImageData(0, 0, probe.width, probe.height).data;
      var n = px.length / 4, sum = 0, sq = 0;
      for (var i = 0; i < px.length; i += 4) {
        var y = 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
        sum += y;
        sq += y * y;
      }
      var mean = sum / n;
      return { mean: mean, std: Math.sqrt(Math.max(0, sq / n - mean * mean)) };
    } catch (e) {
      return null;
    }
  }

  window.videoStats = function () {
    return tiles.map(function (t) {
      var q = typeof t.video.getVideoPlaybackQuality === 'function' ? t.video.getVideoPlaybackQuality() : null;
      var l = luma(t.video);
      return {
        role: t.role, streamId: t.streamId, connectionId: t.connectionId, name: t.name,
        videoWidth: t.video.videoWidth, videoHeight: t.video.videoHeight,
        frames: t.frames, totalVideoFrames: q ? q.totalVideoFrames : null,
        readyState: t.video.readyState, paused: t.video.paused, currentTime: t.video.currentTime,
        lumaMean: l ? l.mean : null, lumaStd: l ? l.std : null
      };
    });
  };

  // inbound-rtp statistics of every subscription: is media arriving (and audible)?
  var subscribers = [];  // {connectionId, subscriber}
  window.inboundStats = function () {
    return Promise.all(subscribers.map(function (entry) {
      var pc = entry.subscriber.stream.getRTCPeerConnection();
      if (!pc) { return Promise.resolve([]); }
      return pc.getStats().then(function (report) {
        var rows = [];
        report.forEach(function (r) {
          if (r.type !== 'inbound-rtp') { return; }
          rows.push({ connectionId: entry.connectionId, kind: r.kind,
                      packetsReceived: r.packetsReceived || 0, bytesReceived: r.bytesReceived || 0,
                      framesDecoded: r.framesDecoded || 0,
                      totalAudioEnergy: r.totalAudioEnergy || 0, audioLevel: r.audioLevel || 0 });
        });
        return rows;
      });
    })).then(function (lists) { return [].concat.apply([], lists); });
  };

  // --- OpenVidu ---------------------------------------------------------------------------
  function start() {
    if (typeof window.OpenVidu !== 'function') {
      fail('load', new Error('openvidu-browser ' + build + ' did not define window.OpenVidu'));
      return;
    }
    var OV = new window.OpenVidu();
    // With no ICE servers from the server, openvidu-browser falls back to public STUN servers.
    // These tests never leave loopback: point it at a loopback address instead.
    OV.setAdvancedConfiguration({ iceServers: [{ urls: 'stun:127.0.0.1:3478' }] });
    var session = OV.initSession();
    window.__session = session;
    window.__publisher = null;

    session.on('connectionCreated', function (ev) {
      var c = ev.connection;
      record({ event: 'connectionCreated', connectionId: c.connectionId, data: c.data,
               name: clientName(c.data), seedAppName: seedAppName(c.data),
               local: !!(session.connection && session.connection.connectionId === c.connectionId) });
    });
    session.on('connectionDestroyed', function (ev) {
      record({ event: 'connectionDestroyed', connectionId: ev.connection.connectionId, reason: ev.reason });
    });
    session.on('streamCreated', function (ev) {
      var s = ev.stream;
      var name = clientName(s.connection.data);
      record({ event: 'streamCreated', streamId: s.streamId, connectionId: s.connection.connectionId,
               name: name, hasAudio: s.hasAudio, hasVideo: s.hasVideo,
               audioActive: s.audioActive, videoActive: s.videoActive });
      var subscriber = session.subscribe(s, undefined);
      subscribers.push({ connectionId: s.connection.connectionId, subscriber: subscriber });
      var tile = addTile('subscriber', s.streamId, s.connection.connectionId, name);
      subscriber.addVideoElement(tile.video);
      subscriber.on('streamPlaying', function () {
        record({ event: 'streamPlaying', streamId: s.streamId, connectionId: s.connection.connectionId });
      });
    });
    session.on('streamDestroyed', function (ev) {
      record({ event: 'streamDestroyed', streamId: ev.stream.streamId,
               connectionId: ev.stream.connection.connectionId, reason: ev.reason });
    });
    session.on('streamPropertyChanged', function (ev) {
      record({ event: 'streamPropertyChanged', streamId: ev.stream.streamId,
               connectionId: ev.stream.connection.connectionId, property: ev.changedProperty,
               newValue: ev.newValue, oldValue: ev.oldValue, reason: ev.reason,
               audioActive: ev.stream.audioActive, videoActive: ev.stream.videoActive });
    });
    session.on('signal', function (ev) {
      record({ event: 'signal', type: ev.type, data: ev.data,
               from: ev.from ? ev.from.connectionId : null,
               fromName: ev.from ? clientName(ev.from.data) : null });
    });
    session.on('sessionDisconnected', function (ev) {
      record({ event: 'sessionDisconnected', reason: ev.reason });
    });
    session.on('exception', function (ev) {
      record({ event: 'exception', name: ev.name, message: ev.message });
    });
    session.on('reconnecting', function () { record({ event: 'reconnecting' }); });
    session.on('reconnected', function () { record({ event: 'reconnected' }); });

    window.sendSignal = function (type, data, to) {
      var opts = { type: type, data: data };
      if (Array.isArray(to)) {
        opts.to = to.map(function (id) {
          var c = session.remoteConnections.get ? session.remoteConnections.get(id) : session.remoteConnections[id];
          if (!c) { throw new Error('no remote connection ' + id); }
          return c;
        });
      }
      return session.signal(opts).then(function () { return true; });
    };
    window.setAudio = function (on) {
      if (!window.__publisher) { throw new Error('not publishing'); }
      window.__publisher.publishAudio(!!on);
      return true;
    };
    window.leave = function () { session.disconnect(); return true; };
    // openvidu-browser's own reconnection path (what it does when pings fail): close the socket
    // with 4104 "Connection closed for reconnection", open a new one, send `connect`.
    window.reconnectSocket = function () { OV.jsonRpcClient.reconnect(); return true; };

    setPhase('connecting');
    session.connect(token, { clientData: myName }).then(function () {
      window.__state.connectionId = session.connection.connectionId;
      record({ event: 'connected', connectionId: session.connection.connectionId });
      if (!wantPublish) {
        setPhase('connected');
        return null;
      }
      setPhase('publishing');
      return OV.initPublisherAsync(undefined, {
        audioSource: undefined, videoSource: undefined, publishAudio: true, publishVideo: true,
        resolution: '640x480', frameRate: 30, insertMode: 'APPEND', mirror: false
      }).then(function (publisher) {
        window.__publisher = publisher;
        var tile = addTile('publisher', null, session.connection.connectionId, myName);
        publisher.addVideoElement(tile.video);
        publisher.on('streamCreated', function (ev) {
          tile.streamId = ev.stream.streamId;
          record({ event: 'publisherStreamCreated', streamId: ev.stream.streamId });
        });
        return session.publish(publisher);
      }).then(function () {
        record({ event: 'published', streamId: window.__publisher.stream.streamId });
        setPhase('connected');
      });
    }).catch(function (err) { fail('connect/publish', err); });
  }

  var script = document.createElement('script');
  script.src = 'lib/openvidu-browser-' + encodeURIComponent(build) + '.min.js';
  script.onload = start;
  script.onerror = function () { fail('load', new Error('cannot load ' + script.src)); };
  document.head.appendChild(script);
}());
