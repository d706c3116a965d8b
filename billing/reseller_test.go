package billing

import (
	"context"
	"strings"
	"testing"

	"tollgate/radius"
)

func TestValidateNewReseller(t *testing.T) {
	base := NewReseller{Name: "Corner Shop", Email: "shop@example.com", CreditLimitCents: 5000}
	tests := []struct {
		name   string
		edit   func(r *NewReseller)
		prefix string // "" = valid
	}{
		{"valid", func(r *NewReseller) {}, ""},
		{"minimal", func(r *NewReseller) { *r = NewReseller{Name: "a"} }, ""},
		{"name empty", func(r *NewReseller) { r.Name = "" }, "name:"},
		{"name too long", func(r *NewReseller) { r.Name = strings.Repeat("a", 65) }, "name:"},
		{"name slash", func(r *NewReseller) { r.Name = "a/b" }, "name:"},
		{"name trailing space", func(r *NewReseller) { r.Name = "shop " }, "name:"},
		{"email empty", func(r *NewReseller) { r.Email = "" }, ""},
		{"email no at", func(r *NewReseller) { r.Email = "shop.example.com" }, "email:"},
		{"email with name", func(r *NewReseller) { r.Email = "Shop <shop@example.com>" }, "email:"},
		{"email space", func(r *NewReseller) { r.Email = "sh op@example.com" }, "email:"},
		{"email too long", func(r *NewReseller) { r.Email = strings.Repeat("a", 250) + "@x.io" }, "email:"},
		{"credit limit negative", func(r *NewReseller) { r.CreditLimitCents = -1 }, "credit-limit:"},
		{"credit limit max", func(r *NewReseller) { r.CreditLimitCents = MaxAmountCents }, ""},
		{"credit limit over max", func(r *NewReseller) { r.CreditLimitCents = MaxAmountCents + 1 }, "credit-limit:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base
			tt.edit(&r)
			wantInvalid(t, ValidateNewReseller(r), tt.prefix)
		})
	}
}

func TestResellerStatusValid(t *testing.T) {
	for s, want := range map[ResellerStatus]bool{ResellerActive: true, ResellerSuspended: true, "": false, "disabled": false} {
		if s.Valid() != want {
			t.Errorf("%q.Valid() = %v, want %v", s, !want, want)
		}
	}
}

// resellerStoreFake is a function-field fake of ResellerStore.
type resellerStoreFake struct {
	CreateResellerFn     func(ctx context.Context, r *Reseller) error
	FindResellerByNameFn func(ctx context.Context, name string) (*Reseller, error)
	ListResellersFn      func(ctx context.Context) ([]Reseller, error)
	UpdateResellerFn     func(ctx context.Context, name string, upd ResellerUpdate) (*Reseller, error)
}

func (f *resellerStoreFake) UpdateReseller(ctx context.Context, name string, upd ResellerUpdate) (*Reseller, error) {
	return f.UpdateResellerFn(ctx, name, upd)
}

func (f *resellerStoreFake) CreateReseller(ctx context.Context, r *Reseller) error {
	return f.CreateResellerFn(ctx, r)
}

func (f *resellerStoreFake) FindResellerByName(ctx context.Context, name string) (*Reseller, error) {
	return f.FindResellerByNameFn(ctx, name)
}

func (f *resellerStoreFake) ListResellers(ctx context.Context) ([]Reseller, error) {
	return f.ListResellersFn(ctx)
}

func TestCreateReseller(t *testing.T) {
	var stored *Reseller
	svc := &ResellerService{Store: &resellerStoreFake{
		CreateResellerFn: func(_ context.Context, r *Reseller) error {
			stored = r
			r.ID, r.Status = 7, ResellerActive
			return nil
		},
		FindResellerByNameFn: func(_ context.Context, name string) (*Reseller, error) {
			return nil, radius.Errorf(radius.ENOTFOUND, "reseller: no reseller named %q", name)
		},
	}}
	ctx := context.Background()
	t.Run("invalid input is not stored", func(t *testing.T) {
		_, err := svc.CreateReseller(ctx, NewReseller{Name: "shop", CreditLimitCents: -5})
		wantInvalid(t, err, "credit-limit:")
		if stored != nil {
			t.Fatalf("stored %+v", stored)
		}
	})
	t.Run("stored", func(t *testing.T) {
		r, err := svc.CreateReseller(ctx, NewReseller{Name: "shop", Email: "a@b.c", CreditLimitCents: 100})
		if err != nil || r.ID != 7 || r.Name != "shop" || r.Email != "a@b.c" || r.CreditLimitCents != 100 || stored != r {
			t.Fatalf("CreateReseller = %+v, %v", r, err)
		}
	})
	t.Run("find: name required", func(t *testing.T) {
		_, err := svc.FindResellerByName(ctx, "")
		wantInvalid(t, err, "name:")
	})
	t.Run("find: not found passes through", func(t *testing.T) {
		if _, err := svc.FindResellerByName(ctx, "x"); radius.ErrorCode(err) != radius.ENOTFOUND {
			t.Fatalf("err = %v, want ENOTFOUND", err)
		}
	})
}
