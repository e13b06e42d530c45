package subscriptions

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"meterline/shared/fault"

	"meterline/functions/subscriptions/app"
	"meterline/functions/subscriptions/domain"
)

// maxBody bounds a request body: every request of this API is a few small fields.
const maxBody = 64 << 10

// fields is a JSON object body, field by field, so that each bad field can be named. Unknown
// fields are ignored.
type fields map[string]json.RawMessage

func errBadJSON(msg string) error {
	return &fault.Error{Kind: fault.Invalid, Code: "invalid_json", Message: msg}
}

// readFields reads the request body as a JSON object. An empty body is an empty object.
func readFields(w http.ResponseWriter, r *http.Request) (fields, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &fault.Error{Kind: fault.Invalid, Code: "body_too_large", Message: "the request body is larger than 64 KiB"}
		}
		return nil, errBadJSON("the request body could not be read")
	}
	return parseFields(body)
}

func parseFields(body []byte) (fields, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return fields{}, nil
	}
	var f fields
	if err := json.Unmarshal(body, &f); err != nil || f == nil {
		return nil, errBadJSON("the request body must be a JSON object")
	}
	return f, nil
}

// String returns field name as a string; "" (and no error) when absent or null and optional.
func (f fields) String(name string, required bool) (string, error) {
	raw, ok := f[name]
	if !ok || string(raw) == "null" {
		if required {
			return "", domain.Invalid(name, "is required")
		}
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", domain.Invalid(name, "must be a string")
	}
	if required && strings.TrimSpace(s) == "" {
		return "", domain.Invalid(name, "is required")
	}
	return s, nil
}

// Int returns field name as a whole number (minor units); nil when absent or null and optional.
func (f fields) Int(name string, required bool) (*int64, error) {
	raw, ok := f[name]
	if !ok || string(raw) == "null" {
		if required {
			return nil, domain.Invalid(name, "is required")
		}
		return nil, nil
	}
	var n json.Number // a JSON number only: json.Number would also take a quoted "12"
	if c := bytes.TrimSpace(raw); len(c) == 0 || c[0] == '"' || json.Unmarshal(c, &n) != nil {
		return nil, domain.Invalid(name, "must be a number")
	}
	v, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		return nil, domain.Invalid(name, "must be a whole number of minor units (e.g. 1250 for 12.50)")
	}
	return &v, nil
}

// The requests of the API, parsed from a body. Each names the first bad field it finds.

func parseCreateCustomer(f fields) (app.CreateCustomer, error) {
	name, err := f.String("name", true)
	if err != nil {
		return app.CreateCustomer{}, err
	}
	plan, err := f.String("plan", true)
	if err != nil {
		return app.CreateCustomer{}, err
	}
	limit, err := f.Int("creditLimit", false)
	if err != nil {
		return app.CreateCustomer{}, err
	}
	return app.CreateCustomer{Name: name, Plan: plan, CreditLimit: limit}, nil
}

func parseCharge(customerID string, f fields) (app.Charge, error) {
	id, err := f.String("chargeId", true)
	if err != nil {
		return app.Charge{}, err
	}
	amount, err := f.Int("amount", true)
	if err != nil {
		return app.Charge{}, err
	}
	desc, err := f.String("description", false)
	if err != nil {
		return app.Charge{}, err
	}
	currency, err := f.String("currency", false)
	if err != nil {
		return app.Charge{}, err
	}
	return app.Charge{CustomerID: customerID, ChargeID: id, Amount: *amount, Description: desc, Currency: currency}, nil
}

func parsePayment(customerID string, f fields) (app.Pay, error) {
	id, err := f.String("paymentId", true)
	if err != nil {
		return app.Pay{}, err
	}
	amount, err := f.Int("amount", true)
	if err != nil {
		return app.Pay{}, err
	}
	currency, err := f.String("currency", false)
	if err != nil {
		return app.Pay{}, err
	}
	return app.Pay{CustomerID: customerID, PaymentID: id, Amount: *amount, Currency: currency}, nil
}

func parseCreateUser(customerID string, f fields) (app.CreateUser, error) {
	email, err := f.String("email", true)
	if err != nil {
		return app.CreateUser{}, err
	}
	password, err := f.String("password", false)
	if err != nil {
		return app.CreateUser{}, err
	}
	return app.CreateUser{CustomerID: customerID, Email: email, Password: password}, nil
}
