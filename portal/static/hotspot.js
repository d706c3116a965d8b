// hotspot.js: the guest login form of /hotspot/login. It posts to the router's
// link-login-only: username = the code, password = the CHAP response
// lowercase-hex(MD5(chap-id ‖ code ‖ chap-challenge)) when the router offered CHAP
// (data-chap-id and data-chap-challenge carry the decoded bytes in hex), else the code
// itself (PAP).
(function () {
  'use strict';
  var form = document.getElementById('hotspot-login');
  if (!form) return;
  function hexBytes(h) {
    var out = [];
    for (var i = 0; i + 1 < h.length; i += 2) out.push(parseInt(h.substr(i, 2), 16));
    return out;
  }
  function utf8Bytes(s) {
    return Array.prototype.slice.call(new TextEncoder().encode(s));
  }
  form.addEventListener('submit', function () {
    var user = form.elements.username;
    var code = user.value.trim().toUpperCase(); // codes are case-insensitive: stored and hashed in upper case
    user.value = code;
    var id = form.getAttribute('data-chap-id') || '';
    var challenge = form.getAttribute('data-chap-challenge') || '';
    if (id !== '') {
      form.elements.password.value = tollgateMD5Hex(hexBytes(id).concat(utf8Bytes(code), hexBytes(challenge)));
    } else {
      form.elements.password.value = code;
    }
  });
})();
