package billing

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"tollgate/radius"
)

func TestParseCents(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"12.50", 1250, true},
		{"12.5", 1250, true},
		{"12", 1200, true},
		{"0", 0, true},
		{"0.01", 1, true},
		{"007.07", 707, true},
		{"999999999999999.99", 99999999999999999, true},
		{"", 0, false},
		{".5", 0, false},
		{"12.", 0, false},
		{"12.505", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1e3", 0, false},
		{"1,50", 0, false},
		{"1.2.3", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"abc", 0, false},
		{"1000000000000000", 0, false}, // 16 digits
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCents(tt.in)
			if !tt.ok {
				if radius.ErrorCode(err) != radius.EINVALID || !strings.Contains(radius.ErrorMessage(err), "not an amount") {
					t.Fatalf("ParseCents(%q) = %d, %v; want EINVALID", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseCents(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestFormatCents(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0.00"},
		{5, "0.05"},
		{1250, "12.50"},
		{-5, "-0.05"},
		{-2000, "-20.00"},
		{100_000_000_00, "100000000.00"},
		{math.MinInt64, "-92233720368547758.08"},
		{math.MaxInt64, "92233720368547758.07"},
	}
	for _, tt := range tests {
		if got := FormatCents(tt.in); got != tt.want {
			t.Errorf("FormatCents(%d) = %q, want %q", tt.in, got, tt.want)
		}
		if tt.in >= 0 && tt.in < 1e17 {
			if back, err := ParseCents(tt.want); err != nil || back != tt.in {
				t.Errorf("ParseCents(FormatCents(%d)) = %d, %v", tt.in, back, err)
			}
		}
	}
}

func TestEntryKindValid(t *testing.T) {
	for k, want := range map[EntryKind]bool{EntryTopup: true, EntryPurchase: true, EntryRefund: true, EntryAdjustment: true, "": false, "gift": false} {
		if k.Valid() != want {
			t.Errorf("%q.Valid() = %v, want %v", k, !want, want)
		}
	}
}

func TestValidateMovement(t *testing.T) {
	base := Movement{Kind: EntryTopup, AmountCents: 1250, Note: "cash", IdempotencyKey: "k-1", Actor: "cli"}
	tests := []struct {
		name   string
		edit   func(m *Movement)
		prefix string // "" = valid
	}{
		{"valid topup", func(m *Movement) {}, ""},
		{"purchase negative", func(m *Movement) { m.Kind, m.AmountCents, m.Note, m.Ref = EntryPurchase, -100, "", "batch 9" }, ""},
		{"refund positive without note", func(m *Movement) { m.Kind, m.Note = EntryRefund, "" }, ""},
		{"adjustment negative", func(m *Movement) { m.Kind, m.AmountCents, m.Note = EntryAdjustment, -100, "typo on 3 May" }, ""},
		{"kind empty", func(m *Movement) { m.Kind = "" }, "kind:"},
		{"kind unknown", func(m *Movement) { m.Kind = "gift" }, "kind:"},
		{"amount zero", func(m *Movement) { m.AmountCents = 0 }, "amount:"},
		{"amount max", func(m *Movement) { m.AmountCents = MaxAmountCents }, ""},
		{"amount over max", func(m *Movement) { m.AmountCents = MaxAmountCents + 1 }, "amount:"},
		{"amount under -max", func(m *Movement) { m.Kind, m.AmountCents = EntryPurchase, -MaxAmountCents-1 }, "amount:"},
		{"topup negative", func(m *Movement) { m.AmountCents = -1 }, "amount:"},
		{"refund negative", func(m *Movement) { m.Kind, m.AmountCents = EntryRefund, -1 }, "amount:"},
		{"purchase positive", func(m *Movement) { m.Kind = EntryPurchase }, "amount:"},
		{"topup without note", func(m *Movement) { m.Note = "" }, "note:"},
		{"adjustment without note", func(m *Movement) { m.Kind, m.Note = EntryAdjustment, "" }, "note:"},
		{"note too long", func(m *Movement) { m.Note = strings.Repeat("n", MaxNoteLen+1) }, "note:"},
		{"note control", func(m *Movement) { m.Note = "cash\nand more" }, "note:"},
		{"note unicode", func(m *Movement) { m.Note = "espèces, 5 €" }, ""},
		{"key empty", func(m *Movement) { m.IdempotencyKey = "" }, "idempotency-key:"},
		{"key too long", func(m *Movement) { m.IdempotencyKey = strings.Repeat("k", MaxKeyLen+1) }, "idempotency-key:"},
		{"key space", func(m *Movement) { m.IdempotencyKey = "a b" }, "idempotency-key:"},
		{"key non-ascii", func(m *Movement) { m.IdempotencyKey = "clé" }, "idempotency-key:"},
		{"key uuid", func(m *Movement) { m.IdempotencyKey = "3f2b8c1e-9a4d-4e6f-8b2a-1c3d5e7f9a0b" }, ""},
		{"ref too long", func(m *Movement) { m.Ref = strings.Repeat("r", MaxRefLen+1) }, "ref:"},
		{"actor empty", func(m *Movement) { m.Actor = "" }, "actor:"},
		{"actor control", func(m *Movement) { m.Actor = "a\x00" }, "actor:"},
		{"actor email", func(m *Movement) { m.Actor = "admin@example.com" }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base
			tt.edit(&m)
			wantInvalid(t, ValidateMovement(m), tt.prefix)
		})
	}
}

func TestCheckReplay(t *testing.T) {
	orig := LedgerEntry{ID: 3, ResellerID: 1, AmountCents: -500, BalanceAfterCents: 1500, Kind: EntryPurchase,
		IdempotencyKey: "k", Ref: "batch 1", Note: "first"}
	base := Movement{ResellerID: 1, Kind: EntryPurchase, AmountCents: -500, IdempotencyKey: "k", Ref: "batch 1", Actor: "cli"}
	tests := []struct {
		name     string
		edit     func(m *Movement)
		conflict bool
	}{
		{"same request", func(m *Movement) {}, false},
		{"retry with another note and ref", func(m *Movement) { m.Note, m.Ref = "second", "batch 2" }, false},
		{"other reseller", func(m *Movement) { m.ResellerID = 2 }, true},
		{"other amount", func(m *Movement) { m.AmountCents = -501 }, true},
		{"other kind", func(m *Movement) { m.Kind = EntryAdjustment }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base
			tt.edit(&m)
			got, err := CheckReplay(orig, m)
			if tt.conflict {
				if radius.ErrorCode(err) != radius.ECONFLICT || !strings.HasPrefix(radius.ErrorMessage(err), `idempotency-key: "k"`) {
					t.Fatalf("CheckReplay = %+v, %v; want ECONFLICT naming the key", got, err)
				}
				return
			}
			want := orig
			want.Replayed = true
			if err != nil || got != want {
				t.Fatalf("CheckReplay = %+v, %v; want %+v", got, err, want)
			}
		})
	}
}

func TestQuotaError(t *testing.T) {
	err := QuotaError("shop", Wallet{BalanceCents: -300, CreditLimitCents: 500}, -250)
	want := `balance: reseller "shop" needs 2.50, available 2.00 (balance -3.00, credit limit 5.00)`
	if radius.ErrorCode(err) != radius.EQUOTA || radius.ErrorMessage(err) != want {
		t.Fatalf("QuotaError = %q (%s), want %q", radius.ErrorMessage(err), radius.ErrorCode(err), want)
	}
}

// walletStoreFake is a function-field fake of WalletStore.
type walletStoreFake struct {
	MoveFn                 func(ctx context.Context, m Movement) (LedgerEntry, error)
	FindWalletFn           func(ctx context.Context, o Owner) (*Wallet, error)
	FindLedgerEntriesFn    func(ctx context.Context, o Owner, limit int) ([]LedgerEntry, error)
	FindLedgerEntryByKeyFn func(ctx context.Context, o Owner, key string) (*LedgerEntry, error)
}

func (f *walletStoreFake) Move(ctx context.Context, m Movement) (LedgerEntry, error) {
	return f.MoveFn(ctx, m)
}

func (f *walletStoreFake) FindWallet(ctx context.Context, o Owner) (*Wallet, error) {
	return f.FindWalletFn(ctx, o)
}

func (f *walletStoreFake) FindLedgerEntries(ctx context.Context, o Owner, limit int) ([]LedgerEntry, error) {
	return f.FindLedgerEntriesFn(ctx, o, limit)
}

func (f *walletStoreFake) FindLedgerEntriesBetween(ctx context.Context, o Owner, from, to time.Time, limit int) (int64, []LedgerEntry, error) {
	panic("not used")
}

func (f *walletStoreFake) FindLedgerEntryByKey(ctx context.Context, o Owner, key string) (*LedgerEntry, error) {
	return f.FindLedgerEntryByKeyFn(ctx, o, key)
}

// walletEnv is a ResellerService on fakes that records the movements each store saw.
type walletEnv struct {
	svc       *ResellerService
	moves     []Movement // on svc.Wallets
	txMoves   []Movement // on the transaction's store
	tx        *walletStoreFake
	lastLimit int
}

func newWalletEnv() *walletEnv {
	e := &walletEnv{}
	resellers := map[string]*Reseller{
		"shop":   {ID: 1, Name: "shop", Status: ResellerActive},
		"frozen": {ID: 2, Name: "frozen", Status: ResellerSuspended},
	}
	store := &resellerStoreFake{FindResellerByNameFn: func(_ context.Context, name string) (*Reseller, error) {
		if r, ok := resellers[name]; ok {
			return r, nil
		}
		return nil, radius.Errorf(radius.ENOTFOUND, "reseller: no reseller named %q", name)
	}}
	move := func(list *[]Movement) func(context.Context, Movement) (LedgerEntry, error) {
		return func(_ context.Context, m Movement) (LedgerEntry, error) {
			*list = append(*list, m)
			return LedgerEntry{ID: int64(len(*list)), ResellerID: m.ResellerID, AmountCents: m.AmountCents, Kind: m.Kind}, nil
		}
	}
	e.svc = &ResellerService{Store: store, Wallets: &walletStoreFake{
		MoveFn: move(&e.moves),
		FindWalletFn: func(_ context.Context, o Owner) (*Wallet, error) {
			return &Wallet{ResellerID: o.ResellerID, BalanceCents: 700, CreditLimitCents: 100, UpdatedAt: time.Unix(0, 0)}, nil
		},
		FindLedgerEntriesFn: func(_ context.Context, o Owner, limit int) ([]LedgerEntry, error) {
			e.lastLimit = limit
			return []LedgerEntry{{ID: 1, ResellerID: o.ResellerID}}, nil
		},
	}}
	e.tx = &walletStoreFake{MoveFn: move(&e.txMoves)}
	return e
}

func TestResellerServiceWallet(t *testing.T) {
	ctx := context.Background()
	t.Run("credit is a topup on the service's store", func(t *testing.T) {
		e := newWalletEnv()
		got, err := e.svc.Credit(ctx, "shop", 1250, "cash", "k1", "cli")
		want := Movement{ResellerID: 1, Kind: EntryTopup, AmountCents: 1250, Note: "cash", IdempotencyKey: "k1", Actor: "cli"}
		if err != nil || len(e.moves) != 1 || e.moves[0] != want || got.AmountCents != 1250 {
			t.Fatalf("Credit = %+v, %v; moves %+v", got, err, e.moves)
		}
	})
	t.Run("debit is a negative purchase on the given store", func(t *testing.T) {
		e := newWalletEnv()
		_, err := e.svc.Debit(ctx, e.tx, "shop", 300, "batch 4", "", "k2", "admin@example.com")
		want := Movement{ResellerID: 1, Kind: EntryPurchase, AmountCents: -300, IdempotencyKey: "k2", Ref: "batch 4", Actor: "admin@example.com"}
		if err != nil || len(e.moves) != 0 || len(e.txMoves) != 1 || e.txMoves[0] != want {
			t.Fatalf("Debit: %v; moves %+v, tx moves %+v", err, e.moves, e.txMoves)
		}
	})
	t.Run("debit without a store uses the service's", func(t *testing.T) {
		e := newWalletEnv()
		if _, err := e.svc.Debit(ctx, nil, "shop", 300, "", "", "k3", "cli"); err != nil || len(e.moves) != 1 {
			t.Fatalf("Debit: %v; moves %+v", err, e.moves)
		}
	})
	refused := []struct {
		name string
		call func(e *walletEnv) error
		code string
		msg  string
	}{
		{"credit zero", func(e *walletEnv) error { _, err := e.svc.Credit(ctx, "shop", 0, "cash", "k", "cli"); return err }, radius.EINVALID, "amount:"},
		{"credit negative", func(e *walletEnv) error { _, err := e.svc.Credit(ctx, "shop", -5, "cash", "k", "cli"); return err }, radius.EINVALID, "amount:"},
		{"credit without note", func(e *walletEnv) error { _, err := e.svc.Credit(ctx, "shop", 5, "", "k", "cli"); return err }, radius.EINVALID, "note:"},
		{"credit without key", func(e *walletEnv) error { _, err := e.svc.Credit(ctx, "shop", 5, "cash", "", "cli"); return err }, radius.EINVALID, "idempotency-key:"},
		{"credit without actor", func(e *walletEnv) error { _, err := e.svc.Credit(ctx, "shop", 5, "cash", "k", ""); return err }, radius.EINVALID, "actor:"},
		{"credit no reseller", func(e *walletEnv) error { _, err := e.svc.Credit(ctx, "", 5, "cash", "k", "cli"); return err }, radius.EINVALID, "reseller:"},
		{"credit unknown reseller", func(e *walletEnv) error { _, err := e.svc.Credit(ctx, "nobody", 5, "cash", "k", "cli"); return err }, radius.ENOTFOUND, "reseller:"},
		{"debit zero", func(e *walletEnv) error { _, err := e.svc.Debit(ctx, e.tx, "shop", 0, "", "", "k", "cli"); return err }, radius.EINVALID, "amount:"},
		{"debit negative", func(e *walletEnv) error { _, err := e.svc.Debit(ctx, e.tx, "shop", -1, "", "", "k", "cli"); return err }, radius.EINVALID, "amount:"},
		{"debit over max", func(e *walletEnv) error {
			_, err := e.svc.Debit(ctx, e.tx, "shop", MaxAmountCents+1, "", "", "k", "cli")
			return err
		}, radius.EINVALID, "amount:"},
		{"debit suspended", func(e *walletEnv) error {
			_, err := e.svc.Debit(ctx, e.tx, "frozen", 1, "", "", "k", "cli")
			return err
		}, radius.EUNAUTHORIZED, `reseller: "frozen" is suspended`},
		{"adjustment down suspended", func(e *walletEnv) error {
			_, err := e.svc.Post(ctx, nil, "frozen", Movement{Kind: EntryAdjustment, AmountCents: -1, Note: "fix", IdempotencyKey: "k", Actor: "cli"})
			return err
		}, radius.EUNAUTHORIZED, "reseller:"},
	}
	for _, tt := range refused {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			e := newWalletEnv()
			err := tt.call(e)
			if radius.ErrorCode(err) != tt.code || !strings.HasPrefix(radius.ErrorMessage(err), tt.msg) {
				t.Fatalf("err = %v (code %q), want %s starting %q", err, radius.ErrorCode(err), tt.code, tt.msg)
			}
			if len(e.moves)+len(e.txMoves) != 0 {
				t.Fatalf("refused call reached a store: %+v %+v", e.moves, e.txMoves)
			}
		})
	}
	t.Run("suspended reseller can be credited", func(t *testing.T) {
		e := newWalletEnv()
		if _, err := e.svc.Credit(ctx, "frozen", 100, "cash for old debt", "k", "cli"); err != nil || len(e.moves) != 1 {
			t.Fatalf("Credit = %v; moves %+v", err, e.moves)
		}
	})
	t.Run("balance", func(t *testing.T) {
		e := newWalletEnv()
		w, err := e.svc.Balance(ctx, "shop")
		if err != nil || w.ResellerID != 1 || w.AvailableCents() != 800 {
			t.Fatalf("Balance = %+v, %v", w, err)
		}
		if _, err := e.svc.Balance(ctx, "nobody"); radius.ErrorCode(err) != radius.ENOTFOUND {
			t.Fatalf("Balance(nobody) = %v, want ENOTFOUND", err)
		}
	})
	ledger := []struct {
		name      string
		limit     int
		wantLimit int // 0: refused
	}{
		{"default", 0, DefaultLedgerLimit},
		{"one", 1, 1},
		{"max", MaxLedgerLimit, MaxLedgerLimit},
		{"negative", -1, 0},
		{"over max", MaxLedgerLimit + 1, 0},
	}
	for _, tt := range ledger {
		t.Run("ledger limit "+tt.name, func(t *testing.T) {
			e := newWalletEnv()
			list, err := e.svc.Ledger(ctx, "shop", tt.limit)
			if tt.wantLimit == 0 {
				wantInvalid(t, err, "limit:")
				return
			}
			if err != nil || len(list) != 1 || e.lastLimit != tt.wantLimit {
				t.Fatalf("Ledger = %+v, %v; store limit %d, want %d", list, err, e.lastLimit, tt.wantLimit)
			}
		})
	}
}
