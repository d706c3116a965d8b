package billing

import (
	"testing"

	"tollgate/radius"
)

// TestParseSearch: what an admin types is matched as text, and also as a phone number
// or a MAC when it looks like one.
func TestParseSearch(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     SearchTerms
	}{
		{"empty", "  ", SearchTerms{}},
		{"a name", "Wanjiru", SearchTerms{Text: "Wanjiru"}},
		{"an email", "alice@example.com", SearchTerms{Text: "alice@example.com"}},
		{"a local phone number", "0712 345", SearchTerms{Text: "0712 345", Digits: "712345", MAC: ""}},
		{"an E.164 number", "+254 712-345-678", SearchTerms{Text: "+254 712-345-678", Digits: "254712345678"}},
		{"digits are a phone and a MAC", "0712", SearchTerms{Text: "0712", Digits: "712", MAC: "0712"}},
		{"too few digits", "07", SearchTerms{Text: "07"}},
		{"a MAC", "aa:bb:cc:dd:ee:ff", SearchTerms{Text: "aa:bb:cc:dd:ee:ff", MAC: "AABBCCDDEEFF"}},
		{"part of a MAC with dashes", "ee-ff", SearchTerms{Text: "ee-ff", MAC: "EEFF"}},
		{"a hex word", "cafe", SearchTerms{Text: "cafe", MAC: "CAFE"}},
		{"too long for a MAC", "aabbccddeeff00", SearchTerms{Text: "aabbccddeeff00", Digits: "", MAC: ""}},
		{"a username with digits", "alice2", SearchTerms{Text: "alice2"}},
		{"zeros only", "000", SearchTerms{Text: "000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseSearch(tc.in); got != tc.want {
				t.Errorf("ParseSearch(%q) = %+v; want %+v", tc.in, got, tc.want)
			}
		})
	}
}

// TestCheckSubscriberQuery: filters are checked, naming the field, and the page gets
// its defaults.
func TestCheckSubscriberQuery(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   SubscriberQuery
		want string // the error message, "" for none
	}{
		{"defaults", SubscriberQuery{}, ""},
		{"every filter", SubscriberQuery{Search: "x", Status: radius.StatusSuspended, State: radius.SubscriptionIsolated, PlanID: 3, Page: 2, PerPage: 10}, ""},
		{"no subscription", SubscriberQuery{State: StateNone}, ""},
		{"bad status", SubscriberQuery{Status: "gone"}, `status: "gone" is not active, suspended or disabled`},
		{"bad state", SubscriberQuery{State: "late"}, `state: "late" is not active, grace, isolated, cancelled or none`},
		{"bad page", SubscriberQuery{Page: -1}, "page: must be 1 or more"},
		{"page too long", SubscriberQuery{PerPage: MaxPerPage + 1}, "per_page: must be 1 to 200"},
		{"search too long", SubscriberQuery{Search: string(make([]byte, 201))}, "search: at most 200 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := CheckSubscriberQuery(tc.in)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.want != "" && (radius.ErrorCode(err) != radius.EINVALID || radius.ErrorMessage(err) != tc.want):
				t.Fatalf("error %v; want EINVALID %q", err, tc.want)
			case tc.want == "" && (q.Page < 1 || q.PerPage < 1 || q.PerPage > MaxPerPage):
				t.Fatalf("query %+v: no defaults", q)
			}
		})
	}
	if q, _ := CheckSubscriberQuery(SubscriberQuery{}); q.Page != 1 || q.PerPage != DefaultPerPage {
		t.Errorf("defaults %+v", q)
	}
	for _, tc := range []struct{ total, per, want int }{{0, 50, 1}, {50, 50, 1}, {51, 50, 2}, {101, 50, 3}} {
		if got := (&SubscriberPage{Total: tc.total, PerPage: tc.per}).Pages(); got != tc.want {
			t.Errorf("Pages(%d/%d) = %d; want %d", tc.total, tc.per, got, tc.want)
		}
	}
}
