package domain_test

import (
	"errors"
	"testing"

	"meterline/functions/journal/domain"
	"meterline/shared/fault"
)

func TestMonthlyReportSumsEachLine(t *testing.T) {
	var r domain.MonthlyReport
	for _, m := range []domain.Movement{
		{Kind: domain.UsageMeasured, Units: 7, Requests: 2},
		{Kind: domain.UsageMeasured, Units: 3, Requests: 1},
		{Kind: domain.ConsumptionPaid, Units: 10, Amount: 30, Currency: "EUR"},
		{Kind: domain.ChargeMade, Amount: 500, Currency: "EUR"},
		{Kind: domain.InvoiceMade, Amount: 530, Currency: "EUR"},
		{Kind: domain.PaymentMade, Amount: 200, Currency: "EUR"},
	} {
		m.CustomerID, m.Month = "c1", "2026-03"
		r.Apply(m)
	}
	want := domain.MonthlyReport{
		CustomerID: "c1", Month: "2026-03", Currency: "EUR",
		Usage:       domain.Usage{Reports: 2, Units: 10, Requests: 3},
		Consumption: domain.Billed{Count: 1, Units: 10, Amount: 30}, Charges: domain.Billed{Count: 1, Amount: 500},
		Revenue: 530, Invoiced: domain.Billed{Count: 1, Amount: 530}, Payments: domain.Billed{Count: 1, Amount: 200}, Events: 6,
	}
	if r != want {
		t.Fatalf("report\n got %+v\nwant %+v", r, want)
	}
}

func TestParseMonth(t *testing.T) {
	if m, err := domain.ParseMonth("2026-03"); err != nil || m != "2026-03" {
		t.Fatalf("%q %v", m, err)
	}
	for _, bad := range []string{"2026-3", "2026-13", "03-2026", "", "2026-03-01"} {
		if _, err := domain.ParseMonth(bad); !errors.Is(err, fault.Invalid) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
