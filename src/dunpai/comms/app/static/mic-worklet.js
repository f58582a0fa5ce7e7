"use strict";
// Microphone frames for the app: 20 ms at 48 kHz (960 samples), 16-bit little-endian, after a 0x01 byte.
class DunpaiMic extends AudioWorkletProcessor {
  constructor() { super(); this.buf = new Int16Array(960); this.n = 0; }
  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (!ch) return true;
    for (let i = 0; i < ch.length; i++) {
      const v = Math.max(-1, Math.min(1, ch[i]));
      this.buf[this.n++] = v < 0 ? v * 32768 : v * 32767;
      if (this.n === 960) {
        const out = new Uint8Array(1 + 1920);
        out[0] = 1;
        out.set(new Uint8Array(this.buf.buffer.slice(0)), 1);
        this.port.postMessage(out.buffer, [out.buffer]);
        this.n = 0;
      }
    }
    return true;
  }
}
registerProcessor("dunpai-mic", DunpaiMic);
