package domain_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"meterline/shared/fault"

	"meterline/functions/subscriptions/contracts"
	"meterline/functions/subscriptions/domain"
	"meterline/shared/aggregate/aggregatetest"
)

var (
	nov3  = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	nov4  = time.Date(2026, 11, 4, 10, 0, 0, 0, time.UTC)
	dec1  = time.Date(2026, 12, 1, 0, 5, 0, 0, time.UTC)
	dec2  = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	jan1  = time.Date(2027, 1, 1, 0, 5, 0, 0, time.UTC)
	dueIn = 15 * 24 * time.Hour
)

// payg: 10 per unit, nothing included, credit limit 1000.
var created = contracts.CustomerCreated{CustomerID: "c1", Name: "Acme", Plan: "payg", Currency: "EUR", PricePerUnit: 10, IncludedUnits: 0, CreditLimit: 1000}

// starter: 5 per unit beyond 1000 a month, credit limit 5000.
var createdStarter = contracts.CustomerCreated{CustomerID: "c1", Name: "Acme", Plan: "starter", Currency: "EUR", PricePerUnit: 5, IncludedUnits: 1000, CreditLimit: 5000}

func customer() *domain.Customer { return domain.NewCustomer("c1") }

func ptr(v int64) *int64 { return &v }

func consumed(report string, units, amount int64, at time.Time) contracts.ConsumptionAdded {
	return contracts.ConsumptionAdded{CustomerID: "c1", ReportID: report, Units: units, Amount: amount, Currency: "EUR",
		PeriodFrom: at, PeriodTo: at.Add(time.Minute), Month: at.Format("2006-01")}
}

func balance(b int64) contracts.BalanceChanged {
	return contracts.BalanceChanged{CustomerID: "c1", Balance: b, Currency: "EUR"}
}

func charged(id string, amount int64, at time.Time) contracts.ChargeAdded {
	return contracts.ChargeAdded{CustomerID: "c1", ChargeID: id, Amount: amount, Currency: "EUR", Description: "setup", ChargedAt: at, Month: at.Format("2006-01")}
}

func paid(id string, amount int64) contracts.PaymentReceived {
	return contracts.PaymentReceived{CustomerID: "c1", PaymentID: id, Amount: amount, Currency: "EUR", ReceivedAt: nov4}
}

func invoice(period string, amount, units, consumption, charges int64, at time.Time) contracts.InvoiceIssued {
	return contracts.InvoiceIssued{CustomerID: "c1", InvoiceID: "c1-" + period, Period: period, Amount: amount, Currency: "EUR",
		IssuedAt: at, DueAt: at.Add(dueIn), Units: units, Consumption: consumption, Charges: charges}
}

func TestCreateCustomerCopiesThePlanTerms(t *testing.T) {
	aggregatetest.Given(t, customer()).
		When(func(c *domain.Customer) ([]any, error) { return c.Create(" Acme ", "payg", nil) }).
		Then(created)
}

func TestCreateCustomerWithItsOwnCreditLimit(t *testing.T) {
	want := created
	want.CreditLimit = 0
	aggregatetest.Given(t, customer()).
		When(func(c *domain.Customer) ([]any, error) { return c.Create("Acme", "payg", ptr(0)) }).
		Then(want)
}

func TestCreateCustomerRejectsBadInputNamingTheField(t *testing.T) {
	cases := []struct {
		name, plan string
		limit      *int64
		field      string
	}{
		{"", "payg", nil, "name"},
		{"   ", "payg", nil, "name"},
		{string(make([]byte, 201)), "payg", nil, "name"},
		{"Acme", "gold", nil, "plan"},
		{"Acme", "", nil, "plan"},
		{"Acme", "payg", ptr(-1), "creditLimit"},
		{"Acme", "payg", ptr(domain.MaxAmount + 1), "creditLimit"},
	}
	for _, tc := range cases {
		_, err := customer().Create(tc.name, tc.plan, tc.limit)
		var de *fault.Error
		if !errors.As(err, &de) || !errors.Is(err, fault.Invalid) || de.Field != tc.field {
			t.Errorf("Create(%q, %q): got %v, want invalid %s", tc.name, tc.plan, err, tc.field)
		}
	}
}

func TestCreateCustomerAgainWithSameDetailsChangesNothing(t *testing.T) {
	aggregatetest.Given(t, customer(), created).
		When(func(c *domain.Customer) ([]any, error) { return c.Create("Acme", "payg", nil) }).
		ThenNothing()
}

func TestCreateCustomerAgainWithOtherDetailsConflicts(t *testing.T) {
	aggregatetest.Given(t, customer(), created).
		When(func(c *domain.Customer) ([]any, error) { return c.Create("Acme", "pro", nil) }).
		ThenError(domain.ErrCustomerExists)
}

func TestConsumptionIsBilledPerUnit(t *testing.T) {
	aggregatetest.Given(t, customer(), created).
		When(func(c *domain.Customer) ([]any, error) { return c.AddConsumption("r1", 7, nov3, nov3.Add(time.Minute)) }).
		Then(consumed("r1", 7, 70, nov3), balance(-70))
}

func TestConsumptionWithinIncludedUnitsCostsNothing(t *testing.T) {
	aggregatetest.Given(t, customer(), createdStarter, consumed("r1", 600, 0, nov3)).
		When(func(c *domain.Customer) ([]any, error) {
			return c.AddConsumption("r2", 400, nov3, nov3.Add(time.Minute))
		}).
		Then(consumed("r2", 400, 0, nov3))
}

func TestOnlyUnitsBeyondTheIncludedOnesAreCharged(t *testing.T) {
	aggregatetest.Given(t, customer(), createdStarter, consumed("r1", 900, 0, nov3)).
		When(func(c *domain.Customer) ([]any, error) {
			return c.AddConsumption("r2", 300, nov3, nov3.Add(time.Minute))
		}).
		Then(consumed("r2", 300, 1000, nov3), balance(-1000)) // 200 units beyond 1000, at 5
}

func TestIncludedUnitsStartAfreshEachMonth(t *testing.T) {
	aggregatetest.Given(t, customer(), createdStarter, consumed("r1", 1000, 0, nov3), consumed("r2", 10, 50, nov3), balance(-50)).
		When(func(c *domain.Customer) ([]any, error) {
			return c.AddConsumption("r3", 10, dec2, dec2.Add(time.Minute))
		}).
		Then(consumed("r3", 10, 0, dec2))
}

func TestAUsageReportIsBilledOnlyOnce(t *testing.T) {
	aggregatetest.Given(t, customer(), created, consumed("r1", 7, 70, nov3), balance(-70)).
		When(func(c *domain.Customer) ([]any, error) { return c.AddConsumption("r1", 7, nov3, nov3.Add(time.Minute)) }).
		ThenNothing()
}

func TestConsumptionRejectsBadReports(t *testing.T) {
	c := customer()
	c.Apply(created)
	for _, tc := range []struct {
		report   string
		units    int64
		from, to time.Time
		field    string
	}{
		{"", 1, nov3, nov3, "reportId"},
		{"r", -1, nov3, nov3, "units"},
		{"r", domain.MaxUnits + 1, nov3, nov3, "units"},
		{"r", 1, time.Time{}, nov3, "periodFrom"},
		{"r", 1, nov4, nov3, "periodTo"},
	} {
		_, err := c.AddConsumption(tc.report, tc.units, tc.from, tc.to)
		var de *fault.Error
		if !errors.As(err, &de) || de.Field != tc.field {
			t.Errorf("%+v: got %v, want invalid %s", tc, err, tc.field)
		}
	}
}

func TestCommandsOnAnUnknownCustomerFail(t *testing.T) {
	for name, cmd := range map[string]func(*domain.Customer) ([]any, error){
		"consumption": func(c *domain.Customer) ([]any, error) { return c.AddConsumption("r1", 1, nov3, nov3) },
		"charge":      func(c *domain.Customer) ([]any, error) { return c.Charge("ch1", 1, "", nov3) },
		"payment":     func(c *domain.Customer) ([]any, error) { return c.Pay("p1", 1, nov3) },
		"invoice":     func(c *domain.Customer) ([]any, error) { return c.IssueInvoice("2026-11", dec1, dec1) },
		"expire":      func(c *domain.Customer) ([]any, error) { return c.ExpireInvoice("c1-2026-11") },
	} {
		t.Run(name, func(t *testing.T) {
			aggregatetest.Given(t, customer()).When(cmd).ThenError(domain.ErrCustomerNotFound)
		})
	}
}

func TestOverdraftLocksTheCustomer(t *testing.T) {
	aggregatetest.Given(t, customer(), created, consumed("r1", 100, 1000, nov3), balance(-1000)).
		When(func(c *domain.Customer) ([]any, error) { return c.AddConsumption("r2", 1, nov3, nov3.Add(time.Minute)) }).
		Then(consumed("r2", 1, 10, nov3), balance(-1010),
			contracts.CustomerLocked{CustomerID: "c1", Reason: "overdraft", Balance: -1010, CreditLimit: 1000, Currency: "EUR"})
}

func TestBalanceAtExactlyMinusTheCreditLimitIsNoOverdraft(t *testing.T) {
	aggregatetest.Given(t, customer(), created).
		When(func(c *domain.Customer) ([]any, error) { return c.Charge("ch1", 1000, "setup", nov3) }).
		Then(charged("ch1", 1000, nov3), balance(-1000))
}

func TestALockedCustomerIsLockedOnlyOnce(t *testing.T) {
	aggregatetest.Given(t, customer(), created, charged("ch1", 2000, nov3), balance(-2000),
		contracts.CustomerLocked{CustomerID: "c1", Reason: "overdraft", Balance: -2000, CreditLimit: 1000, Currency: "EUR"}).
		When(func(c *domain.Customer) ([]any, error) { return c.Charge("ch2", 5, "setup", nov3) }).
		Then(charged("ch2", 5, nov3), balance(-2005))
}

func TestAChargeIsAppliedOncePerChargeID(t *testing.T) {
	aggregatetest.Given(t, customer(), created, charged("ch1", 300, nov3), balance(-300)).
		When(func(c *domain.Customer) ([]any, error) { return c.Charge("ch1", 300, "setup", nov4) }).
		ThenNothing()
}

func TestAChargeIDReusedForAnotherAmountConflicts(t *testing.T) {
	aggregatetest.Given(t, customer(), created, charged("ch1", 300, nov3), balance(-300)).
		When(func(c *domain.Customer) ([]any, error) { return c.Charge("ch1", 301, "setup", nov4) }).
		ThenError(domain.ErrChargeIDReused)
}

func TestChargeAndPaymentRejectBadAmountsAndIDs(t *testing.T) {
	c := customer()
	c.Apply(created)
	check := func(what string, err error, field string) {
		t.Helper()
		var de *fault.Error
		if !errors.As(err, &de) || de.Field != field {
			t.Errorf("%s: got %v, want invalid %s", what, err, field)
		}
	}
	_, err := c.Charge("ch", 0, "", nov3)
	check("zero charge", err, "amount")
	_, err = c.Charge("ch", -5, "", nov3)
	check("negative charge", err, "amount")
	_, err = c.Charge("ch", domain.MaxAmount+1, "", nov3)
	check("huge charge", err, "amount")
	_, err = c.Charge("", 5, "", nov3)
	check("no charge id", err, "chargeId")
	_, err = c.Charge("a\x00b", 5, "", nov3)
	check("control char in id", err, "chargeId")
	_, err = c.Charge("ch", 5, string(make([]byte, 501)), nov3)
	check("long description", err, "description")
	_, err = c.Pay("p", 0, nov3)
	check("zero payment", err, "amount")
	_, err = c.Pay("", 5, nov3)
	check("no payment id", err, "paymentId")
}

func TestAPaymentRaisesTheBalance(t *testing.T) {
	aggregatetest.Given(t, customer(), created, charged("ch1", 300, nov3), balance(-300)).
		When(func(c *domain.Customer) ([]any, error) { return c.Pay("p1", 500, nov4) }).
		Then(paid("p1", 500), balance(200))
}

func TestAPaymentEndingTheOverdraftUnlocks(t *testing.T) {
	aggregatetest.Given(t, customer(), created, charged("ch1", 2000, nov3), balance(-2000),
		contracts.CustomerLocked{CustomerID: "c1", Reason: "overdraft", Balance: -2000, CreditLimit: 1000, Currency: "EUR"}).
		When(func(c *domain.Customer) ([]any, error) { return c.Pay("p1", 1000, nov4) }).
		Then(paid("p1", 1000), balance(-1000), contracts.CustomerUnlocked{CustomerID: "c1", Balance: -1000, Currency: "EUR"})
}

func TestAPaymentNotEndingTheOverdraftKeepsTheLock(t *testing.T) {
	aggregatetest.Given(t, customer(), created, charged("ch1", 2000, nov3), balance(-2000),
		contracts.CustomerLocked{CustomerID: "c1", Reason: "overdraft", Balance: -2000, CreditLimit: 1000, Currency: "EUR"}).
		When(func(c *domain.Customer) ([]any, error) { return c.Pay("p1", 999, nov4) }).
		Then(paid("p1", 999), balance(-1001))
}

func TestAPaymentIsAppliedOncePerPaymentID(t *testing.T) {
	aggregatetest.Given(t, customer(), created, paid("p1", 500), balance(500)).
		When(func(c *domain.Customer) ([]any, error) { return c.Pay("p1", 500, nov4) }).
		ThenNothing()
	aggregatetest.Given(t, customer(), created, paid("p1", 500), balance(500)).
		When(func(c *domain.Customer) ([]any, error) { return c.Pay("p1", 400, nov4) }).
		ThenError(domain.ErrPaymentIDReused)
}

func TestMonthlyInvoiceClosesTheMonthsConsumptionAndCharges(t *testing.T) {
	aggregatetest.Given(t, customer(), created, consumed("r1", 7, 70, nov3), balance(-70), charged("ch1", 300, nov4), balance(-370),
		consumed("r2", 2, 20, dec2), balance(-390)).
		When(func(c *domain.Customer) ([]any, error) { return c.IssueInvoice("2026-11", dec1, dec1.Add(dueIn)) }).
		Then(invoice("2026-11", 370, 7, 70, 300, dec1))
}

func TestTheNextInvoiceTakesOnlyWhatIsNotInvoicedYet(t *testing.T) {
	aggregatetest.Given(t, customer(), created, consumed("r1", 7, 70, nov3), balance(-70), consumed("r2", 2, 20, dec2), balance(-90),
		invoice("2026-11", 70, 7, 70, 0, dec1),
		consumed("late", 1, 10, nov4), balance(-100)). // a November report arriving after November was invoiced
		When(func(c *domain.Customer) ([]any, error) { return c.IssueInvoice("2026-12", jan1, jan1.Add(dueIn)) }).
		Then(invoice("2026-12", 30, 3, 30, 0, jan1))
}

func TestAPeriodIsInvoicedOnce(t *testing.T) {
	aggregatetest.Given(t, customer(), created, consumed("r1", 7, 70, nov3), balance(-70), invoice("2026-11", 70, 7, 70, 0, dec1)).
		When(func(c *domain.Customer) ([]any, error) { return c.IssueInvoice("2026-11", dec2, dec2.Add(dueIn)) }).
		ThenNothing()
}

func TestNothingToBillMakesNoInvoice(t *testing.T) {
	aggregatetest.Given(t, customer(), createdStarter, consumed("r1", 10, 0, nov3)).
		When(func(c *domain.Customer) ([]any, error) { return c.IssueInvoice("2026-11", dec1, dec1.Add(dueIn)) }).
		ThenNothing()
}

func TestInvoiceRejectsABadPeriod(t *testing.T) {
	for _, p := range []string{"", "2026-13", "2026-1", "november", "2026-11-01"} {
		aggregatetest.Given(t, customer(), created).
			When(func(c *domain.Customer) ([]any, error) { return c.IssueInvoice(p, dec1, dec1) }).
			ThenError(fault.Invalid)
	}
}

func TestPaymentsSettleInvoicesOldestFirst(t *testing.T) {
	aggregatetest.Given(t, customer(), created, consumed("r1", 7, 70, nov3), balance(-70), invoice("2026-11", 70, 7, 70, 0, dec1),
		consumed("r2", 5, 50, dec2), balance(-120), invoice("2026-12", 50, 5, 50, 0, jan1),
		paid("p1", 60), balance(-60)). // not enough for November yet
		When(func(c *domain.Customer) ([]any, error) { return c.Pay("p2", 20, nov4) }).
		Then(contracts.PaymentReceived{CustomerID: "c1", PaymentID: "p2", Amount: 20, Currency: "EUR", ReceivedAt: nov4}, balance(-40),
			contracts.InvoicePaid{CustomerID: "c1", InvoiceID: "c1-2026-11"}) // 80 covers November (70), not then December (50)
}

func TestCreditFromEarlierPaymentsSettlesANewInvoiceAtOnce(t *testing.T) {
	aggregatetest.Given(t, customer(), created, paid("p1", 500), balance(500), consumed("r1", 7, 70, nov3), balance(430)).
		When(func(c *domain.Customer) ([]any, error) { return c.IssueInvoice("2026-11", dec1, dec1.Add(dueIn)) }).
		Then(invoice("2026-11", 70, 7, 70, 0, dec1), contracts.InvoicePaid{CustomerID: "c1", InvoiceID: "c1-2026-11"})
}

func TestAPaidInvoiceIsNotPaidAgain(t *testing.T) {
	aggregatetest.Given(t, customer(), created, consumed("r1", 7, 70, nov3), balance(-70), invoice("2026-11", 70, 7, 70, 0, dec1),
		paid("p1", 70), balance(0), contracts.InvoicePaid{CustomerID: "c1", InvoiceID: "c1-2026-11"}).
		When(func(c *domain.Customer) ([]any, error) { return c.Pay("p2", 70, nov4) }).
		Then(contracts.PaymentReceived{CustomerID: "c1", PaymentID: "p2", Amount: 70, Currency: "EUR", ReceivedAt: nov4}, balance(70))
}

func TestAnOutstandingInvoiceExpires(t *testing.T) {
	aggregatetest.Given(t, customer(), created, consumed("r1", 7, 70, nov3), balance(-70), invoice("2026-11", 70, 7, 70, 0, dec1)).
		When(func(c *domain.Customer) ([]any, error) { return c.ExpireInvoice("c1-2026-11") }).
		Then(contracts.InvoiceExpired{CustomerID: "c1", InvoiceID: "c1-2026-11"})
}

func TestOnlyAnOutstandingInvoiceExpires(t *testing.T) {
	base := []any{created, consumed("r1", 7, 70, nov3), balance(-70), invoice("2026-11", 70, 7, 70, 0, dec1)}
	aggregatetest.Given(t, customer(), append(base, paid("p1", 70), balance(0), contracts.InvoicePaid{CustomerID: "c1", InvoiceID: "c1-2026-11"})...).
		When(func(c *domain.Customer) ([]any, error) { return c.ExpireInvoice("c1-2026-11") }).
		ThenNothing()
	aggregatetest.Given(t, customer(), append(base, contracts.InvoiceExpired{CustomerID: "c1", InvoiceID: "c1-2026-11"})...).
		When(func(c *domain.Customer) ([]any, error) { return c.ExpireInvoice("c1-2026-11") }).
		ThenNothing()
	aggregatetest.Given(t, customer(), base...).
		When(func(c *domain.Customer) ([]any, error) { return c.ExpireInvoice("c1-2027-01") }).
		ThenError(domain.ErrInvoiceNotFound)
}

func TestAnExpiredInvoiceCanStillBePaid(t *testing.T) {
	aggregatetest.Given(t, customer(), created, consumed("r1", 7, 70, nov3), balance(-70), invoice("2026-11", 70, 7, 70, 0, dec1),
		contracts.InvoiceExpired{CustomerID: "c1", InvoiceID: "c1-2026-11"}).
		When(func(c *domain.Customer) ([]any, error) { return c.Pay("p1", 70, nov4) }).
		Then(contracts.PaymentReceived{CustomerID: "c1", PaymentID: "p1", Amount: 70, Currency: "EUR", ReceivedAt: nov4}, balance(0),
			contracts.InvoicePaid{CustomerID: "c1", InvoiceID: "c1-2026-11"})
}

func TestPlansAreListedWithTheirTerms(t *testing.T) {
	plans := domain.Plans()
	if len(plans) != len(domain.Catalogue) {
		t.Fatalf("%d plans listed, %d in the catalogue", len(plans), len(domain.Catalogue))
	}
	for _, p := range plans {
		if p.Currency == "" || p.PricePerUnit <= 0 || p.CreditLimit < 0 || p.IncludedUnits < 0 {
			t.Errorf("plan %+v has incomplete terms", p)
		}
	}
}

func TestAPaymentSettlesABoundedNumberOfInvoices(t *testing.T) {
	c := customer()
	c.Apply(created)
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range domain.MaxSettledAtOnce + 5 {
		at := start.AddDate(0, i, 0)
		period := at.Format("2006-01")
		c.Apply(consumed(fmt.Sprint("r", i), 1, 10, at))
		c.Apply(invoice(period, 10, 1, 10, 0, at.AddDate(0, 1, 0)))
	}
	events, err := c.Pay("p1", 10_000, nov4)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2+domain.MaxSettledAtOnce {
		t.Fatalf("%d events, want payment, balance and %d settled invoices", len(events), domain.MaxSettledAtOnce)
	}
	for _, e := range events {
		c.Apply(e)
	}
	// The rest is settled by the next money movement.
	events, err = c.Pay("p2", 1, nov4)
	if err != nil || len(events) != 2+5 {
		t.Fatalf("next payment: %d events, %v", len(events), err)
	}
}
