package hotspot

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"tollgate/billing"
	"tollgate/radius"
)

// memStore is an in-memory Store for the service's own logic; the Postgres store is
// tested in hotspot/postgres. taken holds codes and logins that collide.
type memStore struct {
	taken      map[string]bool
	batches    []Batch
	vouchers   []Voucher
	sealed     map[int64]SealedCredentials
	nextID     int64
	validUntil time.Time
	replaced   int
	revokedAt  time.Time
	expireAt   time.Time
	expired    []Changed
}

func (m *memStore) NextVoucherIDs(ctx context.Context, n int) ([]int64, error) {
	ids := make([]int64, n)
	for i := range ids {
		m.nextID++
		ids[i] = m.nextID
	}
	return ids, nil
}

func (m *memStore) CreateBatch(ctx context.Context, b *Batch, validUntil time.Time, vs []NewVoucher, fresh func(id int64) (NewVoucher, error)) error {
	for i := range vs {
		for m.taken[vs[i].Code] || m.taken[vs[i].Login()] {
			v, err := fresh(vs[i].ID)
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
	if m.sealed == nil {
		m.sealed = map[int64]SealedCredentials{}
	}
	for _, v := range vs {
		m.vouchers = append(m.vouchers, Voucher{ID: v.ID, BatchID: b.ID, CodeHint: v.CodeHint, CodeHash: v.CodeHash, Username: v.Username, Mode: b.Mode, State: radius.VoucherNew, ValidUntil: validUntil})
		m.sealed[v.ID] = SealedCredentials{Code: v.SealedCode, Password: v.SealedPassword}
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

func (m *memStore) FindSealedCredentials(ctx context.Context, batchID int64) (map[int64]SealedCredentials, error) {
	out := map[int64]SealedCredentials{}
	for _, v := range m.vouchers {
		if v.BatchID == batchID {
			out[v.ID] = m.sealed[v.ID]
		}
	}
	return out, nil
}

func (m *memStore) FindVoucherByCodeHash(ctx context.Context, h []byte) (*Voucher, error) {
	return m.find(func(v *Voucher) bool { return string(v.CodeHash) == string(h) })
}

func (m *memStore) FindVoucherByUsername(ctx context.Context, username string) (*Voucher, error) {
	return m.find(func(v *Voucher) bool { return v.Username == username })
}

func (m *memStore) FindVoucherByID(ctx context.Context, id int64) (*Voucher, error) {
	return m.find(func(v *Voucher) bool { return v.ID == id })
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
	for i := range m.vouchers {
		if m.vouchers[i].ID == id {
			m.vouchers[i].State = radius.VoucherRevoked
			cp := m.vouchers[i]
			return &cp, nil
		}
	}
	return nil, radius.Errorf(radius.ENOTFOUND, "no voucher")
}

func (m *memStore) ExpireVouchers(ctx context.Context, now time.Time) ([]Changed, error) {
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

// sealer marks what it seals with the place it was sealed for, and opens only for it.
type sealer struct{}

func (sealer) Seal(b, ad []byte) []byte {
	return []byte("sealed:" + string(b) + "|" + string(ad))
}

func (sealer) Open(b, ad []byte) ([]byte, error) {
	plain, place, ok := strings.Cut(strings.TrimPrefix(string(b), "sealed:"), "|")
	if !ok || place != string(ad) {
		return nil, errors.New("sealed for another place")
	}
	return []byte(plain), nil
}

// hasher stands for the keyed hash (radius/seal).
type hasher struct{}

func (hasher) Hash(purpose string, data []byte) []byte {
	return []byte("h(" + purpose + "," + string(data) + ")")
}

type recorder struct{ changed [][]Changed }

func (r *recorder) VouchersChanged(ctx context.Context, vs ...Changed) error {
	r.changed = append(r.changed, vs)
	return nil
}

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
		Codes:   hasher{},
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
			// In code mode the code logs in; the voucher's own name is voucher-<id>; the
			// code is stored only hashed, sealed to its row, and masked.
			if len(v.Code) != 10 || !strings.HasPrefix(v.Code, "HS") || v.Username != radius.VoucherAccountName(v.ID) || v.Login() != v.Code ||
				v.Password != v.Code || seen[v.Code] {
				t.Fatalf("voucher %+v", v)
			}
			if string(v.SealedPassword) != "sealed:"+v.Code+"|"+string(radius.SealVoucherPassword.AD(v.ID)) ||
				string(v.SealedCode) != "sealed:"+v.Code+"|"+string(radius.SealVoucherCode.AD(v.ID)) ||
				string(v.CodeHash) != "h(voucher code,"+v.Code+")" || v.CodeHint != radius.MaskCode(v.Code) {
				t.Fatalf("stored forms of %q: %+v", v.Code, v)
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
		g, err := s.Generate(ctx, GenerateRequest{Plan: "week", Count: 50, Length: 8, Mode: ModeUserPass, Reseller: "kiosk"})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range g.Vouchers {
			if v.Username == v.Code || len(v.Username) != 8 || len(v.Password) != 8 || v.Login() != v.Username ||
				string(v.SealedPassword) != "sealed:"+v.Password+"|"+string(radius.SealVoucherPassword.AD(v.ID)) {
				t.Fatalf("voucher %+v", v)
			}
		}
		if g.Batch.Reseller != "kiosk" || !store.validUntil.Equal(now.Add(7*24*time.Hour)) {
			t.Fatalf("batch %+v, valid until %v", g.Batch, store.validUntil)
		}
	})
	t.Run("collisions are regenerated", func(t *testing.T) {
		// A source that repeats: the first codes collide with "taken" ones in the store.
		store := &memStore{taken: map[string]bool{"22222222": true}}
		s, _ := mustService(store, now)
		s.Rand = &cycle{b: []byte{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2}}
		g, err := s.Generate(ctx, GenerateRequest{Plan: "1h", Count: 2, Length: 8})
		if err != nil {
			t.Fatal(err)
		}
		if store.replaced != 1 || g.Vouchers[0].Code == "22222222" {
			t.Fatalf("replaced %d, vouchers %+v", store.replaced, g.Vouchers)
		}
	})
	t.Run("code space exhausted", func(t *testing.T) {
		store := &memStore{}
		s, _ := mustService(store, now)
		s.Rand = &cycle{b: []byte{7}} // always the same code
		_, err := s.Generate(ctx, GenerateRequest{Plan: "1h", Count: 2, Length: 8})
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
	// A userpass voucher is found by its username too (as session lists show it), and
	// a code by its hash whatever the case it is typed in.
	if st, err := s.Show(ctx, v0.Username); err != nil || st.ID != v0.ID {
		t.Fatalf("show by username = %+v, %v", st, err)
	}
	if st, err := s.Show(ctx, " "+strings.ToLower(v0.Code)+" "); err != nil || st.ID != v0.ID {
		t.Fatalf("show by the code in lower case = %+v, %v", st, err)
	}
	creds, err := s.BatchCredentials(ctx, g.Batch.ID)
	if err != nil || creds[v0.ID].Code != v0.Code || creds[v0.ID].Password != v0.Password {
		t.Fatalf("BatchCredentials = %+v, %v", creds, err)
	}
	// A sealed code copied to another voucher's row does not open there.
	store.sealed[g.Vouchers[1].ID] = store.sealed[v0.ID]
	if _, err := s.BatchCredentials(ctx, g.Batch.ID); err == nil {
		t.Fatal("a code sealed for another voucher opened")
	}
	store.sealed[g.Vouchers[1].ID] = SealedCredentials{Code: g.Vouchers[1].SealedCode, Password: g.Vouchers[1].SealedPassword}
	if _, err := s.Show(ctx, "NOPE"); radius.ErrorCode(err) != radius.ENOTFOUND {
		t.Fatalf("show unknown: %v", err)
	}
	v, err := s.Revoke(ctx, v0.Code)
	if err != nil || v.State != radius.VoucherRevoked || !store.revokedAt.Equal(now) {
		t.Fatalf("revoke = %+v, %v", v, err)
	}
	if len(rec.changed) != 1 || rec.changed[0][0].Username != v0.Username || string(rec.changed[0][0].CodeHash) != string(v0.CodeHash) {
		t.Fatalf("caches told %+v, want the voucher's name and code hash", rec.changed)
	}
	store.expired = []Changed{{Username: "a"}, {Username: "b"}}
	if err := s.ExpireVouchers(ctx); err != nil || !store.expireAt.Equal(now) || len(rec.changed) != 2 || len(rec.changed[1]) != 2 {
		t.Fatalf("expire: %v, at %v, changes %+v", err, store.expireAt, rec.changed)
	}
	store.expired = nil
	if err := s.ExpireVouchers(ctx); err != nil || len(rec.changed) != 2 {
		t.Fatalf("nothing expired still told the caches: %+v", rec.changed)
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
