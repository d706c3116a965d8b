package hotspot

import (
	"context"
	"strings"
	"testing"
	"time"

	"tollgate/billing"
	"tollgate/radius"
)

// memStore is an in-memory Store for the service's own logic; the Postgres store is
// tested in hotspot/postgres.
type memStore struct {
	taken      map[string]bool // codes and usernames that collide
	batches    []Batch
	vouchers   []Voucher
	validUntil time.Time
	replaced   int
	revokedAt  time.Time
	expireAt   time.Time
	expired    []string
}

func (m *memStore) CreateBatch(ctx context.Context, b *Batch, validUntil time.Time, vs []NewVoucher, fresh func() (NewVoucher, error)) error {
	for i := range vs {
		for m.taken[vs[i].Code] || m.taken[vs[i].Username] {
			v, err := fresh()
			if err != nil {
				return err
			}
			vs[i] = v
			m.replaced++
		}
	}
	b.ID = int64(len(m.batches) + 1)
	m.batches = append(m.batches, *b)
	m.validUntil = validUntil
	for _, v := range vs {
		m.vouchers = append(m.vouchers, Voucher{ID: int64(len(m.vouchers) + 1), BatchID: b.ID, Code: v.Code, Username: v.Username, State: radius.VoucherNew, ValidUntil: validUntil})
	}
	return nil
}

func (m *memStore) find(f func(v *Voucher) bool) (*Voucher, error) {
	for i := range m.vouchers {
		if f(&m.vouchers[i]) {
			v := m.vouchers[i]
			return &v, nil
		}
	}
	return nil, radius.Errorf(radius.ENOTFOUND, "no voucher")
}

func (m *memStore) FindSealedPasswords(ctx context.Context, batchID int64) (map[int64][]byte, error) {
	return map[int64][]byte{}, nil
}

func (m *memStore) FindVoucherByCode(ctx context.Context, code string) (*Voucher, error) {
	return m.find(func(v *Voucher) bool { return v.Code == code })
}

func (m *memStore) FindVoucherByUsername(ctx context.Context, username string) (*Voucher, error) {
	return m.find(func(v *Voucher) bool { return v.Username == username })
}

func (m *memStore) FindVouchers(ctx context.Context, f VoucherFilter) ([]Voucher, error) {
	var out []Voucher
	for _, v := range m.vouchers {
		if (f.BatchID == 0 || v.BatchID == f.BatchID) && (f.State == "" || v.State == f.State) && len(out) < f.Limit {
			out = append(out, v)
		}
	}
	return out, nil
}

func (m *memStore) RevokeVoucher(ctx context.Context, id int64, now time.Time) (*Voucher, error) {
	m.revokedAt = now
	v := &m.vouchers[id-1]
	v.State = radius.VoucherRevoked
	cp := *v
	return &cp, nil
}

func (m *memStore) ExpireVouchers(ctx context.Context, now time.Time) ([]string, error) {
	m.expireAt = now
	return m.expired, nil
}

type plans map[string]*billing.Plan

func (p plans) FindPlanByName(ctx context.Context, name string) (*billing.Plan, error) {
	if pl, ok := p[name]; ok {
		return pl, nil
	}
	return nil, radius.Errorf(radius.ENOTFOUND, "no plan %q", name)
}

type sealer struct{}

func (sealer) Seal(b []byte) []byte { return append([]byte("sealed:"), b...) }

type recorder struct{ users [][]string }

func (r *recorder) AccountsChanged(ctx context.Context, usernames ...string) error {
	r.users = append(r.users, usernames)
	return nil
}
func (r *recorder) PlansChanged(ctx context.Context, planID int64) error { return nil }

type usage struct{ u radius.Usage }

func (u usage) FindUsage(ctx context.Context, username string, since time.Time) (radius.Usage, error) {
	return u.u, nil
}

func mustService(store *memStore, now time.Time) (*Service, *recorder) {
	rec := &recorder{}
	return &Service{
		Store: store,
		Plans: plans{
			"1h":   {ID: 1, Name: "1h", Kind: radius.KindHotspot, Validity: time.Hour, ValidityFrom: billing.FromFirstLogin, UptimeLimit: time.Hour},
			"week": {ID: 2, Name: "week", Kind: radius.KindHotspot, Validity: 7 * 24 * time.Hour, ValidityFrom: billing.FromSale},
			"home": {ID: 3, Name: "home", Kind: radius.KindPPPoE},
		},
		Sealer:  sealer{},
		Changes: rec,
		Usage:   usage{radius.Usage{Uptime: time.Hour}},
		Now:     func() time.Time { return now },
	}, rec
}

func TestGenerate(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

	t.Run("code mode", func(t *testing.T) {
		store := &memStore{}
		s, _ := mustService(store, now)
		g, err := s.Generate(ctx, GenerateRequest{Plan: "1h", Count: 500, Prefix: "HS"})
		if err != nil {
			t.Fatal(err)
		}
		if g.Batch.ID != 1 || g.Batch.Count != 500 || g.Batch.Mode != ModeCode || g.Batch.PlanName != "1h" || !g.Batch.CreatedAt.Equal(now) || len(g.Vouchers) != 500 {
			t.Fatalf("batch %+v with %d vouchers", g.Batch, len(g.Vouchers))
		}
		seen := map[string]bool{}
		for _, v := range g.Vouchers {
			if len(v.Code) != 10 || !strings.HasPrefix(v.Code, "HS") || v.Username != v.Code || v.Password != v.Code || string(v.Sealed) != "sealed:"+v.Code || seen[v.Code] {
				t.Fatalf("voucher %+v", v)
			}
			seen[v.Code] = true
		}
		if !store.validUntil.IsZero() {
			t.Fatalf("first-login plan got an end at the sale: %v", store.validUntil)
		}
	})
	t.Run("userpass mode, validity from the sale", func(t *testing.T) {
		store := &memStore{}
		s, _ := mustService(store, now)
		g, err := s.Generate(ctx, GenerateRequest{Plan: "week", Count: 50, Length: 6, Mode: ModeUserPass, Reseller: "kiosk"})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range g.Vouchers {
			if v.Username == v.Code || len(v.Username) != 6 || len(v.Password) != 6 || string(v.Sealed) != "sealed:"+v.Password {
				t.Fatalf("voucher %+v", v)
			}
		}
		if g.Batch.Reseller != "kiosk" || !store.validUntil.Equal(now.Add(7*24*time.Hour)) {
			t.Fatalf("batch %+v, valid until %v", g.Batch, store.validUntil)
		}
	})
	t.Run("collisions are regenerated", func(t *testing.T) {
		// A source that repeats: the first codes collide with "taken" ones in the store.
		store := &memStore{taken: map[string]bool{"2222": true}}
		s, _ := mustService(store, now)
		s.Rand = &cycle{b: []byte{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2}}
		g, err := s.Generate(ctx, GenerateRequest{Plan: "1h", Count: 2, Length: 4})
		if err != nil {
			t.Fatal(err)
		}
		if store.replaced != 1 || g.Vouchers[0].Code == "2222" {
			t.Fatalf("replaced %d, vouchers %+v", store.replaced, g.Vouchers)
		}
	})
	t.Run("code space exhausted", func(t *testing.T) {
		store := &memStore{}
		s, _ := mustService(store, now)
		s.Rand = &cycle{b: []byte{7}} // always the same code
		_, err := s.Generate(ctx, GenerateRequest{Plan: "1h", Count: 2, Length: 4})
		if radius.ErrorCode(err) != radius.ECONFLICT {
			t.Fatalf("err = %v, want ECONFLICT", err)
		}
	})
	failures := []struct {
		name, prefix string
		req          GenerateRequest
	}{
		{"unknown plan", "plan:", GenerateRequest{Plan: "gold", Count: 1}},
		{"pppoe plan", "plan:", GenerateRequest{Plan: "home", Count: 1}},
		{"bad count", "count:", GenerateRequest{Plan: "1h", Count: -1}},
	}
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := mustService(&memStore{}, now)
			_, err := s.Generate(ctx, tt.req)
			wantInvalid(t, err, tt.prefix)
		})
	}
}

// cycle repeats b forever.
type cycle struct {
	b []byte
	i int
}

func (c *cycle) Read(p []byte) (int, error) {
	for k := range p {
		p[k] = c.b[c.i%len(c.b)]
		c.i++
	}
	return len(p), nil
}

func TestShowRevokeExpire(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	store := &memStore{}
	s, rec := mustService(store, now)
	g, err := s.Generate(ctx, GenerateRequest{Plan: "1h", Count: 3, Mode: ModeUserPass})
	if err != nil {
		t.Fatal(err)
	}
	v0 := g.Vouchers[0]
	store.vouchers[0].State, store.vouchers[0].UptimeLimit = radius.VoucherActive, time.Hour

	st, err := s.Show(ctx, v0.Code)
	if err != nil || st.Username != v0.Username || st.Usage.Uptime != time.Hour || st.Now != radius.VoucherExhausted {
		t.Fatalf("show = %+v, %v", st, err)
	}
	// A userpass voucher is found by its username too (as session lists show it).
	if st, err := s.Show(ctx, v0.Username); err != nil || st.Code != v0.Code {
		t.Fatalf("show by username = %+v, %v", st, err)
	}
	if _, err := s.Show(ctx, "NOPE"); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("show unknown: %v", err)
	}
	v, err := s.Revoke(ctx, v0.Code)
	if err != nil || v.State != radius.VoucherRevoked || !store.revokedAt.Equal(now) {
		t.Fatalf("revoke = %+v, %v", v, err)
	}
	if len(rec.users) != 1 || rec.users[0][0] != v0.Username {
		t.Fatalf("caches told %q, want the voucher's username", rec.users)
	}
	store.expired = []string{"a", "b"}
	if err := s.ExpireVouchers(ctx); err != nil || !store.expireAt.Equal(now) || len(rec.users) != 2 || len(rec.users[1]) != 2 {
		t.Fatalf("expire: %v, at %v, changes %q", err, store.expireAt, rec.users)
	}
	store.expired = nil
	if err := s.ExpireVouchers(ctx); err != nil || len(rec.users) != 2 {
		t.Fatalf("nothing expired still told the caches: %q", rec.users)
	}

	list, err := s.FindVouchers(ctx, VoucherFilter{State: radius.VoucherRevoked})
	if err != nil || len(list) != 1 {
		t.Fatalf("list revoked = %+v, %v", list, err)
	}
	if list, _ := s.FindVouchers(ctx, VoucherFilter{}); len(list) != 3 {
		t.Fatalf("list all = %d", len(list))
	}
	_, err = s.FindVouchers(ctx, VoucherFilter{State: "used"})
	wantInvalid(t, err, "state:")
	_, err = s.FindVouchers(ctx, VoucherFilter{Limit: -1})
	wantInvalid(t, err, "limit:")
}
