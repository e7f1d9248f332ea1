/* bench/vs_chromium.py receiver page logic (see index.html). State lives in window.bench. */
(function () {
  'use strict';

  var params = new URLSearchParams(window.location.search);
  var token = params.get('token') || '';
  var SAMPLE_MS = 100;        // at most one latency read per stream per 100 ms
  var MODULO = 1 << 24;       // kiosk/media/testpattern.py: TIMESTAMP_BITS = 24
  var CELLS = 36;             // 2 guard + 24 data + 8 CRC + 2 guard cells
  // Where the code strip sits (fractions of the picture height): the bench passes
  // kiosk.media.testpattern's STRIP_TOP_FRACTION / STRIP_FRACTION.
  var STRIP = parseFloat(params.get('strip_h') || '0.1');
  var STRIP_TOP = parseFloat(params.get('strip_top') || String(1 - STRIP));
  var CW = CELLS * 8, CH = 16;

  var bench = {
    phase: 'loading', error: null, connectedAt: null, joinStartedAt: null, firstFrameAt: null,
    measuring: false, measureStartedAt: null, latencies: [], reads: 0, failedReads: 0, tiles: [],
    subscribers: [], destroyed: 0
  };
  window.bench = bench;

  var canvas = document.createElement('canvas');
  canvas.width = CW;
  canvas.height = CH;
  var ctx = canvas.getContext('2d', { willReadFrequently: true });

  function crc8(value) {  // polynomial 0x07 over the three bytes, most significant first
    var crc = 0;
    var bytes = [(value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff];
    for (var k = 0; k < 3; k++) {
      crc ^= bytes[k];
      for (var b = 0; b < 8; b++) {
        crc = (crc & 0x80) ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
      }
    }
    return crc;
  }

  // Port of kiosk.media.testpattern.read_timestamp on the strip only (drawn into the canvas).
  var lastLevels = null;

  function readTimestamp(video) {
    var vw = video.videoWidth, vh = video.videoHeight;
    if (!vw || !vh) { return null; }
    var stripH = vh * STRIP;
    ctx.drawImage(video, 0, vh * STRIP_TOP, vw, stripH, 0, 0, CW, CH);
    var px = ctx.getImageData(0, 0, CW, CH).data;
    var y0 = Math.floor(CH * 0.25), y1 = Math.max(y0 + 1, Math.floor(CH * 0.75));
    var cols = new Float32Array(CW);
    for (var y = y0; y < y1; y++) {
      for (var x = 0; x < CW; x++) {
        var i = (y * CW + x) * 4;
        cols[x] += (px[i] + px[i + 1] + px[i + 2]) / 3;
      }
    }
    var levels = [];
    for (var c = 0; c < CELLS; c++) {
      var a = Math.round((c + 0.25) * CW / CELLS);
      var e = Math.max(a + 1, Math.round((c + 0.75) * CW / CELLS));
      var s = 0;
      for (var j = a; j < e; j++) { s += cols[j]; }
      levels.push(s / (e - a) / (y1 - y0));
    }
    lastLevels = levels;
    var white = (levels[0] + levels[CELLS - 1]) / 2;
    var black = (levels[1] + levels[CELLS - 2]) / 2;
    var contrast = white - black;
    if (contrast < 60) { return null; }
    var mid = (white + black) / 2, band = contrast * 0.2;
    var bits = [];
    for (var k = 0; k < CELLS; k++) {
      if (Math.abs(levels[k] - mid) < band) { return null; }
      bits.push(levels[k] > mid ? 1 : 0);
    }
    if (bits[0] !== 1 || bits[1] !== 0 || bits[CELLS - 2] !== 0 || bits[CELLS - 1] !== 1) { return null; }
    var value = 0, check = 0;
    for (var d = 2; d < 26; d++) { value = value * 2 + bits[d]; }
    for (var r = 26; r < 34; r++) { check = check * 2 + bits[r]; }
    return crc8(value) === check ? value : null;
  }

  function layout() {
    var grid = document.getElementById('grid');
    var n = Math.max(1, bench.tiles.length);
    var cols = Math.ceil(Math.sqrt(n));
    var rows = Math.ceil(n / cols);
    grid.style.gridTemplateColumns = 'repeat(' + cols + ', 1fr)';
    grid.style.gridTemplateRows = 'repeat(' + rows + ', 1fr)';
  }

  function watch(tile) {
    var video = tile.video;
    var onFrame = function (now) {
      if (bench.firstFrameAt === null) { bench.firstFrameAt = performance.now(); }
      if (tile.firstFrameAt === null) { tile.firstFrameAt = performance.now(); }
      if (bench.measuring) {
        tile.frames += 1;
        if (now - tile.lastRead >= SAMPLE_MS) {
          tile.lastRead = now;
          bench.reads += 1;
          var stamp = null;
          try { stamp = readTimestamp(video); } catch (err) { stamp = null; }
          if (stamp === null) {
            bench.failedReads += 1;
          } else {
            var lat = ((Date.now() % MODULO) - stamp + MODULO) % MODULO;
            bench.latencies.push(lat);
            tile.latencies.push(lat);
          }
        }
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  function addTile(streamId, name) {
    var div = document.createElement('div');
    div.className = 'tile';
    var video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    var label = document.createElement('span');
    label.className = 'name';
    label.textContent = name || streamId;
    div.appendChild(video);
    div.appendChild(label);
    document.getElementById('grid').appendChild(div);
    var tile = { streamId: streamId, name: name, video: video, frames: 0, lastRead: -1e9,
                 firstFrameAt: null, latencies: [], gone: false };
    bench.tiles.push(tile);
    layout();
    watch(tile);
    return tile;
  }

  function nameOf(data) {
    try { return JSON.parse(String(data).split('%/%')[0]).clientData; } catch (e) { return null; }
  }

  // Debugging aid: decode the first tile now and return what the strip looked like.
  window.benchProbe = function () {
    var t = bench.tiles[0];
    if (!t) { return null; }
    var stamp = readTimestamp(t.video);
    return { stamp: stamp, now: Date.now() % MODULO, levels: lastLevels,
             width: t.video.videoWidth, height: t.video.videoHeight };
  };

  // Why no frame? Phase, errors, and what each subscription's peer connection did.
  window.benchDiagnose = function () {
    return Promise.all(bench.subscribers.map(function (sub) {
      var pc = sub.stream.getRTCPeerConnection && sub.stream.getRTCPeerConnection();
      if (!pc) { return Promise.resolve({ pc: null }); }
      return pc.getStats().then(function (report) {
        var row = { ice: pc.iceConnectionState, conn: pc.connectionState };
        report.forEach(function (r) {
          if (r.type === 'inbound-rtp' && r.kind === 'video') {
            row.packets = r.packetsReceived; row.decoded = r.framesDecoded;
            row.keyframes = r.keyFramesDecoded; row.plis = r.pliCount;
          }
        });
        return row;
      });
    })).then(function (rows) {
      return { phase: bench.phase, error: bench.error, exception: bench.lastException || null,
               tiles: bench.tiles.map(function (t) {
                 return [t.video.readyState, t.video.videoWidth, t.firstFrameAt !== null];
               }),
               peers: rows };
    });
  };

  window.benchStart = function () {
    bench.tiles.forEach(function (t) { t.frames = 0; t.latencies = []; });
    bench.latencies = [];
    bench.reads = 0;
    bench.failedReads = 0;
    bench.measureStartedAt = performance.now();
    bench.measuring = true;
  };

  window.benchStop = function () {
    bench.measuring = false;
    var seconds = (performance.now() - bench.measureStartedAt) / 1000;
    return {
      seconds: seconds,
      joinSeconds: bench.firstFrameAt === null ? null : (bench.firstFrameAt - bench.joinStartedAt) / 1000,
      connectSeconds: bench.connectedAt === null ? null : (bench.connectedAt - bench.joinStartedAt) / 1000,
      latencies: bench.latencies, reads: bench.reads, failedReads: bench.failedReads,
      destroyed: bench.destroyed,
      streams: bench.tiles.map(function (t) {
        return { streamId: t.streamId, name: t.name, fps: t.frames / seconds,
                 width: t.video.videoWidth, height: t.video.videoHeight,
                 latencies: t.latencies.length };
      })
    };
  };

  function start() {
    if (typeof window.OpenVidu !== 'function') {
      bench.phase = 'error';
      bench.error = 'openvidu-browser did not load';
      return;
    }
    var OV = new window.OpenVidu();
    if (typeof OV.enableProdMode === 'function') { OV.enableProdMode(); }
    // never contact a public STUN server: point openvidu-browser at loopback
    OV.setAdvancedConfiguration({ iceServers: [{ urls: 'stun:127.0.0.1:3478' }] });
    var session = OV.initSession();
    session.on('streamCreated', function (ev) {
      var s = ev.stream;
      var tile = addTile(s.streamId, nameOf(s.connection.data));
      var sub = session.subscribe(s, undefined);
      bench.subscribers.push(sub);
      sub.addVideoElement(tile.video);
    });
    session.on('streamDestroyed', function (ev) {
      // a publisher left or re-published: its tile no longer counts
      bench.tiles.forEach(function (t) {
        if (t.streamId === ev.stream.streamId && !t.gone) {
          t.gone = true;
          bench.destroyed += 1;
          if (t.video.parentNode) { t.video.parentNode.remove(); }
        }
      });
      bench.tiles = bench.tiles.filter(function (t) { return !t.gone; });
      layout();
    });
    session.on('exception', function (ev) { bench.lastException = String(ev.name || ev); });
    bench.phase = 'token';
    // Like the kiosk's join time (first token request -> first frame on screen), and like a
    // room app: the token comes from the application server (here the bench's page server).
    bench.joinStartedAt = performance.now();
    var tokenUrl = '/token?session=' + encodeURIComponent(params.get('session') || '');
    var getToken = token ? Promise.resolve(token) : fetch(tokenUrl).then(function (r) {
      if (!r.ok) { throw new Error('token request: HTTP ' + r.status); }
      return r.text();
    });
    getToken.then(function (t) {
      bench.phase = 'connecting';
      return session.connect(t, { clientData: 'Chromium bench' });
    }).then(function () {
      bench.connectedAt = performance.now();
      bench.phase = 'connected';
    }).catch(function (err) {
      bench.phase = 'error';
      bench.error = 'connect: ' + (err && (err.message || err.name) || String(err));
    });
  }

  start();
})();
