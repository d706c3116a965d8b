package billing

import (
	"testing"
)

// TestSplitTax: net = round(total / (1 + rate)), tax = total − net, with the rounding
// cases of half cents.
func TestSplitTax(t *testing.T) {
	tests := []struct {
		name     string
		total    int64
		bp       int
		net, tax int64
	}{
		{"no tax", 2000, 0, 2000, 0},
		{"16% of 20.00", 2000, 1600, 1724, 276}, // 1724.137…
		{"16% of 11.60 is exact", 1160, 1600, 1000, 160},
		{"7.5% of 10.00", 1000, 750, 930, 70},                 // 930.232…
		{"7.5% of 1.00", 100, 750, 93, 7},                     // 93.023…
		{"half a cent rounds up: 5% of 0.21", 21, 500, 20, 1}, // 20.0
		{"5% of 1.05 is exact", 105, 500, 100, 5},
		{"half rounds away from zero: 25% of 0.05", 5, 2500, 4, 1}, // 4.0
		{"x.5 up: 25% of 0.10", 10, 2500, 8, 2},                    // 8.0
		{"x.5 exactly: 100% of 0.01", 1, 10000, 1, 0},              // 0.5 → 1
		{"x.5 exactly: 100% of 0.03", 3, 10000, 2, 1},              // 1.5 → 2
		{"one cent at 16%", 1, 1600, 1, 0},                         // 0.862 → 1
		{"0.25% of 100.00", 10000, 25, 9975, 25},                   // 9975.06…
		{"largest amount at 16%", MaxAmountCents, 1600, 8620689655, 1379310345},
		{"zero", 0, 1600, 0, 0},
		{"negative (a credit note) mirrors", -2000, 1600, -1724, -276},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			net, tax := SplitTax(tt.total, tt.bp)
			if net != tt.net || tax != tt.tax || net+tax != tt.total {
				t.Fatalf("SplitTax(%d, %d) = %d + %d, want %d + %d", tt.total, tt.bp, net, tax, tt.net, tt.tax)
			}
		})
	}
}

func TestParseTaxRate(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"0", 0, true}, {"16", 1600, true}, {"7.5", 750, true}, {"7.25", 725, true}, {"100", 10000, true},
		{"100.01", 0, false}, {"7.125", 0, false}, {"-1", 0, false}, {"", 0, false}, {"16%", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseTaxRate(tt.in)
		if tt.ok != (err == nil) || got != tt.want {
			t.Errorf("ParseTaxRate(%q) = %d, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	for bp, want := range map[int]string{0: "0", 1600: "16", 750: "7.5", 725: "7.25", 10000: "100", 5: "0.05"} {
		if got := FormatTaxRate(bp); got != want {
			t.Errorf("FormatTaxRate(%d) = %q, want %q", bp, got, want)
		}
	}
}

func TestCurrency(t *testing.T) {
	for c, ok := range map[string]bool{"USD": true, "KES": true, "NGN": true, "usd": false, "US": false, "USDT": false, "": false, "U$D": false} {
		if (ValidateCurrency(c) == nil) != ok {
			t.Errorf("ValidateCurrency(%q) = %v, want ok=%v", c, ValidateCurrency(c), ok)
		}
	}
	if got := FormatMoney(-2050, "KES"); got != "-20.50 KES" {
		t.Errorf("FormatMoney = %q", got)
	}
}

func TestInvoiceNumber(t *testing.T) {
	if got := InvoiceNumber(KindInvoice, 2026, 1); got != "INV-2026-000001" {
		t.Fatalf("InvoiceNumber = %q", got)
	}
	if got := InvoiceNumber(KindReceipt, 2027, 1234567); got != "RCT-2027-1234567" {
		t.Fatalf("InvoiceNumber = %q", got)
	}
	tests := []struct {
		in   string
		kind InvoiceKind
		year int
		seq  int
	}{
		{"INV-2026-000001", KindInvoice, 2026, 1},
		{"rct-2027-000042", KindReceipt, 2027, 42},
		{" INV-2026-1234567 ", KindInvoice, 2026, 1234567},
		{"INV-2026-000000", "", 0, 0},
		{"INV-2026-1", "", 0, 0},
		{"XYZ-2026-000001", "", 0, 0},
		{"INV-26-000001", "", 0, 0},
		{"INV-2026-+00001", "", 0, 0},
		{"INV2026000001", "", 0, 0},
	}
	for _, tt := range tests {
		k, y, n, err := ParseInvoiceNumber(tt.in)
		if (tt.kind != "") != (err == nil) || k != tt.kind || y != tt.year || n != tt.seq {
			t.Errorf("ParseInvoiceNumber(%q) = %q %d %d %v", tt.in, k, y, n, err)
		}
	}
}

// TestNewDocument: an invoice is taxed and a receipt is not; both add up.
func TestNewDocument(t *testing.T) {
	r := TaxRules{Currency: "KES", TaxRateBP: 1600}
	inv := newDocument(KindInvoice, r, 2027, at(t, "2027-01-31T10:00:00Z"), "Home, 2027-01-31 to 2027-02-28", 2000)
	if inv.NetCents != 1724 || inv.TaxCents != 276 || inv.TotalCents != 2000 || inv.TaxRateBP != 1600 || inv.TaxName != "Tax" ||
		len(inv.Lines) != 1 || inv.Lines[0].NetCents != 1724 || inv.Lines[0].TaxCents != 276 || inv.Lines[0].UnitCents != 2000 {
		t.Fatalf("invoice %+v", inv)
	}
	rct := newDocument(KindReceipt, TaxRules{Currency: "KES", TaxRateBP: 1600, TaxName: "VAT"}, 2027, inv.IssuedAt, "Top-up: cash", 5000)
	if rct.NetCents != 5000 || rct.TaxCents != 0 || rct.TaxRateBP != 0 || rct.TaxName != "VAT" || rct.Lines[0].TotalCents != 5000 {
		t.Fatalf("receipt %+v", rct)
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly ten", 11, "exactly ten"},
		{"a longer line", 10, "a longe..."},
		{"ééééé", 8, "éé..."}, // 10 bytes; the cut falls inside the third é
	} {
		if got := truncate(tc.in, tc.n); got != tc.want || len(got) > tc.n {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
