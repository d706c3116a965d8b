package radius

// NormalizeMAC returns s as upper-case "AA:BB:CC:DD:EE:FF" when it is a 48-bit MAC in any
// of the formats RouterOS can send (colons, dashes, dots, or none; any case), and
// ok=false otherwise. It does not allocate for a MAC already in normal form.
func NormalizeMAC(s string) (string, bool) {
	var hex [12]byte
	n := 0
	normal := len(s) == 17
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'A' && c <= 'F':
		case c >= 'a' && c <= 'f':
			c -= 'a' - 'A'
			normal = false
		case c == ':' || c == '-' || c == '.':
			if c != ':' || i%3 != 2 {
				normal = false
			}
			continue
		default:
			return "", false
		}
		if n == 12 {
			return "", false
		}
		if normal && i%3 == 2 {
			normal = false
		}
		hex[n] = c
		n++
	}
	if n != 12 {
		return "", false
	}
	if normal {
		return s, true
	}
	var b [17]byte
	for i := 0; i < 6; i++ {
		b[i*3], b[i*3+1] = hex[i*2], hex[i*2+1]
		if i < 5 {
			b[i*3+2] = ':'
		}
	}
	return string(b[:]), true
}
