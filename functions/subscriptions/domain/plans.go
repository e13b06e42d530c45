package domain

import "sort"

// Plan is the commercial terms a customer signs up for. Plans are data: adding one is adding a
// line to the catalogue, and a customer keeps the terms it signed up with (copied into
// CustomerCreated).
type Plan struct {
	Name          string `json:"name"`
	Currency      string `json:"currency"`
	PricePerUnit  int64  `json:"pricePerUnit"`  // minor units per consumption unit beyond the included ones
	IncludedUnits int64  `json:"includedUnits"` // free units per calendar month (UTC)
	CreditLimit   int64  `json:"creditLimit"`   // default credit limit, minor units
}

// Catalogue is the plans on offer.
var Catalogue = map[string]Plan{
	"payg":       {Name: "payg", Currency: "EUR", PricePerUnit: 10, IncludedUnits: 0, CreditLimit: 1_000},
	"starter":    {Name: "starter", Currency: "EUR", PricePerUnit: 5, IncludedUnits: 1_000, CreditLimit: 5_000},
	"pro":        {Name: "pro", Currency: "EUR", PricePerUnit: 2, IncludedUnits: 50_000, CreditLimit: 50_000},
	"enterprise": {Name: "enterprise", Currency: "EUR", PricePerUnit: 1, IncludedUnits: 1_000_000, CreditLimit: 1_000_000},
}

// Plans lists the catalogue, cheapest entry first.
func Plans() []Plan {
	out := make([]Plan, 0, len(Catalogue))
	for _, p := range Catalogue {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].IncludedUnits != out[j].IncludedUnits {
			return out[i].IncludedUnits < out[j].IncludedUnits
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// PlanNamed returns the plan called name.
func PlanNamed(name string) (Plan, bool) {
	p, ok := Catalogue[name]
	return p, ok
}
