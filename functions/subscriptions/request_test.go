package subscriptions

import (
	"errors"
	"strings"
	"testing"

	"meterline/shared/fault"

	"meterline/functions/subscriptions/app"
	"meterline/functions/subscriptions/domain"
)

// FuzzCreateCustomerRequest: whatever the body, decoding either gives a request whose required
// fields are present, or an invalid-input error that names the field (or says the JSON is bad).
// It never panics.
func FuzzCreateCustomerRequest(f *testing.F) {
	for _, seed := range []string{
		`{"name":"Acme","plan":"pro"}`,
		`{"name":"Acme","plan":"pro","creditLimit":500}`,
		`{"name":"Acme","plan":"pro","creditLimit":1.5}`,
		`{"name":"Acme","plan":"pro","creditLimit":"5"}`,
		`{"name":null,"plan":"pro"}`,
		`{"name":"A","plan":"pro","creditLimit":99999999999999999999999}`,
		`{"name":"A","plan":"pro","creditLimit":-0}`,
		`{"name":"\u0000","plan":"\ud800"}`,
		`[]`, `null`, ``, `{`, `"x"`, `{"name":{"a":1}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fields, err := parseFields(body)
		if err == nil {
			var cmd app.CreateCustomer
			if cmd, err = parseCreateCustomer(fields); err == nil {
				if strings.TrimSpace(cmd.Name) == "" || cmd.Plan == "" {
					t.Fatalf("accepted %q without name or plan", body)
				}
				// The rest of validation is the domain's: it must also answer with a named field.
				_, err = domain.NewCustomer("c1").Create(cmd.Name, cmd.Plan, cmd.CreditLimit)
			}
		}
		if err == nil {
			return
		}
		var de *fault.Error
		if !errors.As(err, &de) || !errors.Is(err, fault.Invalid) {
			t.Fatalf("error %v is not an invalid-input domain error", err)
		}
		if de.Field == "" && de.Code != "invalid_json" {
			t.Fatalf("error %v names no field", err)
		}
		if de.Field != "" && !strings.Contains(de.Error(), de.Field) {
			t.Fatalf("message %q does not name field %s", de.Error(), de.Field)
		}
	})
}
