// The page `trio-pipe serve --web` serves: Pipecat's JS client against trio_pipe's bot.
// window.trioPipe holds what happened (events with page times, bot audio levels) so
// that a browser test can read it.
import { PipecatClient } from "@pipecat-ai/client-js";
import {
  ProtobufFrameSerializer,
  WavMediaManager,
  WebSocketTransport,
} from "@pipecat-ai/websocket-transport";

const $ = (id) => document.getElementById(id);
const wsPath = document.querySelector('meta[name="trio-pipe-ws-path"]').content;
// `?ws=ws://host:port/path` points the page at another bot (a Pipecat one, say).
const wsUrl =
  new URLSearchParams(location.search).get("ws") ||
  `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${wsPath}`;

const state = {
  events: [], // {type, t (ms, performance.now()), data}
  levels: [], // {t, rms} for every poll with audible bot audio
  botChunks: [], // {t, track, bytes} for every bot audio chunk received
  botAudioMs: 0, // total time the bot was audible
  lastBotAudioAt: null,
  connected: false,
};
window.trioPipe = state;

function log(type, data) {
  state.events.push({ type, t: performance.now(), data: data ?? null });
  const li = document.createElement("li");
  li.dataset.type = type;
  const time = (performance.now() / 1000).toFixed(2);
  li.textContent = `${time}s ${type}${data === undefined ? "" : " " + JSON.stringify(data)}`;
  $("events").prepend(li);
}

function setSpeaking(who, speaking) {
  $(who).textContent = speaking ? "speaking" : "quiet";
  $(who).className = speaking ? "speaking" : "";
}

let client = null;
let meter = null;

function startMeter(mediaManager) {
  // The transport plays bot audio through a WebAudio player; tap its analyser.
  const player = mediaManager._wavStreamPlayer;
  const buffer = new Float32Array(2048);
  const pollMs = 20;
  meter = setInterval(() => {
    const analyser = player && player.analyser;
    if (!analyser) return;
    analyser.getFloatTimeDomainData(buffer);
    let sum = 0;
    for (const x of buffer) sum += x * x;
    const rms = Math.sqrt(sum / buffer.length);
    $("meter").firstElementChild.style.width = `${Math.min(100, rms * 400)}%`;
    if (rms > 0.005) {
      const t = performance.now();
      state.levels.push({ t, rms });
      state.botAudioMs += pollMs;
      state.lastBotAudioAt = t;
    }
  }, pollMs);
}

function setButtons(connected) {
  $("connect").disabled = connected;
  for (const id of ["disconnect", "ping", "ui-event", "send-text"]) $(id).disabled = !connected;
}

async function connect() {
  $("connect").disabled = true;
  const mediaManager = new WavMediaManager(512, 16000);
  let botTrack = 0;
  const bufferBotAudio = mediaManager.bufferBotAudio.bind(mediaManager);
  mediaManager.bufferBotAudio = (data) => {
    state.botChunks.push({ t: performance.now(), track: botTrack, bytes: data.byteLength });
    return bufferBotAudio(data, `bot-${botTrack}`);
  };
  const transport = new WebSocketTransport({
    serializer: new ProtobufFrameSerializer(),
    recorderSampleRate: 16000,
    playerSampleRate: 24000,
    mediaManager,
  });
  client = new PipecatClient({
    transport,
    enableMic: true,
    enableCam: false,
    callbacks: {
      onTransportStateChanged: (s) => ($("state").textContent = s),
      onConnected: () => log("connected"),
      onDisconnected: () => {
        log("disconnected");
        state.connected = false;
        setButtons(false);
        clearInterval(meter);
      },
      onBotReady: (data) => log("bot-ready", data),
      onUserStartedSpeaking: () => {
        log("user-started-speaking");
        setSpeaking("user", true);
        // Barge-in: the server has dropped the rest of the reply; drop what is buffered
        // here too. The player refuses a track once interrupted, so later replies get a
        // new track id.
        mediaManager.userStartedSpeaking();
        botTrack += 1;
      },
      onUserStoppedSpeaking: () => (log("user-stopped-speaking"), setSpeaking("user", false)),
      onBotStartedSpeaking: () => (log("bot-started-speaking"), setSpeaking("bot", true)),
      onBotStoppedSpeaking: () => (log("bot-stopped-speaking"), setSpeaking("bot", false)),
      onServerMessage: (data) => log("server-message", data),
      onBotOutput: (data) => log("bot-output", data),
      onUserTranscript: (data) => log("user-transcription", data),
      onUICommand: (data) => {
        log("ui-command", data);
        if (data.command === "toast") $("toast").textContent = data.payload.title;
      },
      onMessageError: (message) => log("error-response", message.data),
      onError: (message) => log("error", message.data),
    },
  });
  try {
    await client.connect({ wsUrl });
    state.connected = true;
    setButtons(true);
    startMeter(mediaManager);
  } catch (e) {
    log("connect-failed", String(e));
    $("connect").disabled = false;
  }
}

async function ping() {
  const sent = { n: state.events.length };
  try {
    const answer = await client.sendClientRequest("ping", sent, 5000);
    log("server-response", answer);
  } catch (e) {
    log("request-failed", e && e.data ? e.data : String(e));
  }
}

$("connect").onclick = connect;
$("disconnect").onclick = () => client && client.disconnect();
$("ping").onclick = ping;
$("ui-event").onclick = () => client.sendUIEvent("hello", { from: "page" });
$("send-text").onclick = () => client.sendText($("text").value);
