package portal

import (
	"crypto/rand"
	"regexp"
	"strings"

	"tollgate/billing"
	"tollgate/radius"
)

// The subscriber forms' fields and their errors. The domain words an error
// "field: message" (billing's convention, the CLI's flag names); a form shows the
// message next to its field and lists every bad field at the top, by the field's label.

// subscriberFieldOrder is the order of the add and edit forms' fields, which the error
// summary follows.
var subscriberFieldOrder = []string{"username", "password", "plan", "plan_when", "status", "name", "email", "phone",
	"mac", "mac_login", "static_ip", "auto_renew"}

// fieldLabels are the forms' labels by field name.
var fieldLabels = map[string]string{
	"username": "Username", "password": "RADIUS password", "plan": "Plan", "plan_when": "Plan change",
	"status": "Status", "name": "Name", "email": "Email", "phone": "Phone", "mac": "MAC", "mac_login": "MAC login",
	"static_ip": "Static IP", "auto_renew": "Auto-renew", "amount": "Amount", "note": "Note", "reason": "Reason",
}

// label is the label of field, or field itself.
func label(field string) string {
	if l, ok := fieldLabels[field]; ok {
		return l
	}
	return field
}

// flagRE finds the command line's flags in a domain message ("needs --mac, …").
var flagRE = regexp.MustCompile(`\s*\(?--([a-z][a-z-]*)\)?`)

// webMessage rewrites a domain message for a form: a flag becomes the field's label,
// and a parenthesised flag (a hint for the command line) goes.
func webMessage(msg string) string {
	return flagRE.ReplaceAllStringFunc(msg, func(m string) string {
		if strings.Contains(m, "(") {
			return ""
		}
		f := strings.ReplaceAll(flagRE.FindStringSubmatch(m)[1], "-", "_")
		return " the " + label(f) + " field"
	})
}

// formError splits a refusal the form can show (EINVALID, ECONFLICT) into the field it
// names ("" for none) and its message for people; ok is false for any other error,
// which the error handler answers.
func formError(err error) (field, msg string, ok bool) {
	switch radius.ErrorCode(err) {
	case radius.EINVALID, radius.ECONFLICT:
	default:
		return "", "", false
	}
	msg = radius.ErrorMessage(err)
	field = errorField(msg)
	if field != "" {
		msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
	}
	return field, webMessage(msg), true
}

// errorSummary lists errs by label in order (then any other field): "Check these
// fields: Email: …; Phone: …".
func errorSummary(errs map[string]string, order []string) string {
	var parts []string
	seen := map[string]bool{}
	add := func(f string) {
		if msg, ok := errs[f]; ok && !seen[f] {
			seen[f] = true
			if f == "" {
				parts = append(parts, msg)
			} else {
				parts = append(parts, label(f)+": "+msg)
			}
		}
	}
	for _, f := range order {
		add(f)
	}
	for f := range errs {
		add(f)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "Check these fields: " + strings.Join(parts, "; ")
}

// checkSubscriberFields checks each field of the add (isNew) or edit form on its own,
// with the domain's rules, so that every bad field is named at once (the service stops
// at the first). It returns the messages by field.
func checkSubscriberFields(f map[string]string, isNew bool) map[string]string {
	errs := map[string]string{}
	put := func(err error) {
		if field, msg, ok := formError(err); ok && field != "" {
			if _, dup := errs[field]; !dup {
				errs[field] = msg
			}
		}
	}
	if isNew {
		put(billing.ValidateUsername(f["username"]))
		if f["password"] == "" {
			errs["password"] = "required: type one, or tick Generate"
		}
		if f["plan"] == "" {
			errs["plan"] = "required"
		}
	}
	if f["password"] != "" {
		put(billing.ValidatePassword(f["password"]))
	}
	if !isNew {
		if st := radius.Status(f["status"]); !st.Valid() {
			errs["status"] = "choose active, suspended or disabled"
		}
	}
	if len(f["name"]) > billing.MaxProfileNameLen {
		errs["name"] = "at most 200 characters"
	}
	_, err := billing.NormalizeEmail(f["email"])
	put(err)
	_, err = billing.NormalizePhone(f["phone"])
	put(err)
	mac, err := billing.ParseMAC(f["mac"])
	put(err)
	if checked(f["mac_login"]) && mac == "" && err == nil {
		errs["mac_login"] = "needs a MAC, the device that logs in by its address"
	}
	_, err = billing.ParseStaticIP(f["static_ip"])
	put(err)
	return errs
}

// passwordAlphabet has no look-alikes (0/O, 1/l/I), so a password read out on the phone
// is typed right.
const passwordAlphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// newPassword returns a random password of 12 characters (about 70 bits).
func newPassword() string {
	return randomFrom(passwordAlphabet, 12)
}

// randomFrom returns n characters of alphabet drawn uniformly.
func randomFrom(alphabet string, n int) string {
	b := make([]byte, n)
	buf := make([]byte, 1)
	for i := 0; i < n; {
		if _, err := rand.Read(buf); err != nil {
			panic("portal: crypto/rand failed: " + err.Error()) // never happens on Linux
		}
		// Reject the top of the byte range so every character is equally likely.
		if int(buf[0]) >= 256-256%len(alphabet) {
			continue
		}
		b[i] = alphabet[int(buf[0])%len(alphabet)]
		i++
	}
	return string(b)
}
