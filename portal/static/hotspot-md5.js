// hotspot-md5.js: MD5 (RFC 1321) of an array of bytes, as lowercase hex, for the CHAP
// response of the hotspot login (WebCrypto has no MD5). Tested against Go's crypto/md5
// by portal/hotspot_browser_test.go.
function tollgateMD5Hex(bytes) {
  'use strict';
  var S = [7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
    5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21];
  var K = [];
  for (var i = 0; i < 64; i++) K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 4294967296) | 0;
  var n = bytes.length;
  // Padding: 0x80, zeros to 56 mod 64, then the bit length as 64-bit little endian.
  var padded = bytes.slice();
  padded.push(0x80);
  while (padded.length % 64 !== 56) padded.push(0);
  var bits = n * 8;
  for (i = 0; i < 8; i++) {
    padded.push(bits & 0xff);
    bits = Math.floor(bits / 256);
  }
  var a0 = 0x67452301, b0 = 0xefcdab89 | 0, c0 = 0x98badcfe | 0, d0 = 0x10325476;
  var M = new Array(16);
  for (var off = 0; off < padded.length; off += 64) {
    for (i = 0; i < 16; i++) {
      var j = off + i * 4;
      M[i] = padded[j] | (padded[j + 1] << 8) | (padded[j + 2] << 16) | (padded[j + 3] << 24);
    }
    var A = a0, B = b0, C = c0, D = d0;
    for (i = 0; i < 64; i++) {
      var F, g;
      if (i < 16) { F = (B & C) | (~B & D); g = i; }
      else if (i < 32) { F = (D & B) | (~D & C); g = (5 * i + 1) % 16; }
      else if (i < 48) { F = B ^ C ^ D; g = (3 * i + 5) % 16; }
      else { F = C ^ (B | ~D); g = (7 * i) % 16; }
      F = (F + A + K[i] + M[g]) | 0;
      A = D; D = C; C = B;
      B = (B + ((F << S[i]) | (F >>> (32 - S[i])))) | 0;
    }
    a0 = (a0 + A) | 0; b0 = (b0 + B) | 0; c0 = (c0 + C) | 0; d0 = (d0 + D) | 0;
  }
  var hex = '';
  [a0, b0, c0, d0].forEach(function (w) {
    for (var k = 0; k < 4; k++) {
      var b = (w >>> (8 * k)) & 0xff;
      hex += (b < 16 ? '0' : '') + b.toString(16);
    }
  });
  return hex;
}
