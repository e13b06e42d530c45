package domain_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"meterline/functions/cloudapi/domain"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

// A straight line is forecast as its own continuation, whatever the fitted parameters.
func TestForecastContinuesALine(t *testing.T) {
	series := make([]float64, 50)
	for i := range series {
		series[i] = 7.5 + 2.25*float64(i)
	}
	got := domain.Forecast(series, 5)
	for h, y := range got {
		want := 7.5 + 2.25*float64(len(series)+h)
		if !near(y, want, 1e-9) {
			t.Fatalf("point %d: got %v, want %v", h, y, want)
		}
	}
}

func TestForecastOfAConstantIsTheConstant(t *testing.T) {
	got := domain.Forecast([]float64{4, 4, 4, 4}, 3)
	for _, y := range got {
		if y != 4 {
			t.Fatalf("got %v, want all 4", got)
		}
	}
}

// Holt with alpha = beta = 0.5 on 1, 3, 2, 4, worked by hand:
// l0=1 b0=2; y=3: l=3 b=2; y=2: l=3.5 b=1.25; y=4: l=4.375 b=1.0625.
// One-step errors 0, -3, -0.75 -> SSE 9.5625; forecast 5.4375, 6.5.
func TestHoltByHand(t *testing.T) {
	p := domain.Smoothing{Alpha: 0.5, Beta: 0.5}
	series := []float64{1, 3, 2, 4}
	got := domain.Holt(series, p, 2)
	if !near(got[0], 5.4375, 1e-12) || !near(got[1], 6.5, 1e-12) {
		t.Fatalf("forecast %v, want [5.4375 6.5]", got)
	}
	if sse := domain.OneStepSSE(series, p); !near(sse, 9.5625, 1e-12) {
		t.Fatalf("SSE %v, want 9.5625", sse)
	}
}

// With alpha = beta = 1 Holt's method is the naive "last value plus last difference" rule.
func TestHoltWithFullWeightsIsNaiveTrend(t *testing.T) {
	series := []float64{3, 8, 1, 9, 4, 6}
	got := domain.Holt(series, domain.Smoothing{Alpha: 1, Beta: 1}, 3)
	last, diff := 6.0, 6.0-4.0
	for h, y := range got {
		if want := last + float64(h+1)*diff; !near(y, want, 1e-12) {
			t.Fatalf("point %d: got %v, want %v", h, y, want)
		}
	}
}

// The fit picks the grid pair with the least one-step error: on a noisy line the forecast
// follows the line's slope, and the chosen pair beats every other pair of the grid.
func TestFitFollowsANoisyTrend(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	series := make([]float64, 200)
	for i := range series {
		series[i] = 100 + 3*float64(i) + rng.NormFloat64()
	}
	p := domain.Fit(series)
	best := domain.OneStepSSE(series, p)
	for a := 0.1; a <= 1.0001; a += 0.1 {
		for b := 0.1; b <= 1.0001; b += 0.1 {
			if sse := domain.OneStepSSE(series, domain.Smoothing{Alpha: a, Beta: b}); sse < best-1e-9 {
				t.Fatalf("fit chose %+v (SSE %v) but %v,%v has SSE %v", p, best, a, b, sse)
			}
		}
	}
	f := domain.Forecast(series, 10)
	if slope := (f[9] - f[0]) / 9; math.Abs(slope-3) > 0.5 {
		t.Fatalf("forecast slope %v, want about 3 (forecast %v)", slope, f)
	}
}

func TestDecodeForecastRequest(t *testing.T) {
	req, err := domain.DecodeForecastRequest([]byte(`{"series":[1,2.5,-3e2],"horizon":4,"extra":{"ignored":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Series) != 3 || req.Series[2] != -300 || req.Horizon != 4 || req.Units() != 4 {
		t.Fatalf("decoded %+v", req)
	}
	long := "[" + strings.Repeat("1,", domain.MaxSeriesLength) + "1]"
	for body, field := range map[string]string{
		`not json`:                            "body",
		`[1,2]`:                               "body",
		`{"horizon":3}`:                       "series",
		`{"series":null,"horizon":3}`:         "series",
		`{"series":"1,2","horizon":3}`:        "series",
		`{"series":[1],"horizon":3}`:          "series",
		`{"series":[1,"2"],"horizon":3}`:      "series",
		`{"series":[1,1e400],"horizon":3}`:    "series",
		`{"series":[1,2e15],"horizon":3}`:     "series[1]",
		`{"series":` + long + `,"horizon":3}`: "series",
		`{"series":[1,2]}`:                    "horizon",
		`{"series":[1,2],"horizon":0}`:        "horizon",
		`{"series":[1,2],"horizon":1001}`:     "horizon",
		`{"series":[1,2],"horizon":2.5}`:      "horizon",
		`{"series":[1,2],"horizon":"3"}`:      "horizon",
		`{"series":[1,2],"horizon":1e2}`:      "horizon",
	} {
		_, err := domain.DecodeForecastRequest([]byte(body))
		var v *domain.ValidationError
		if !errors.As(err, &v) || v.Field != field {
			t.Errorf("%.60s: got %v, want a ValidationError on %q", body, err, field)
		}
	}
}

// Whatever the body, decoding either fails with a named field or gives a request within limits
// whose forecast is finite.
func FuzzDecodeForecastRequest(f *testing.F) {
	for _, s := range []string{`{"series":[1,2,3],"horizon":2}`, `{"series":[1e15,-1e15],"horizon":1000}`,
		`{"series":[0,0],"horizon":1}`, `{}`, `{"series":[1,2],"horizon":-1}`, `null`, `{"series":[1,2],"horizon":1,"series":[3]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := domain.DecodeForecastRequest(body)
		if err != nil {
			var v *domain.ValidationError
			if !errors.As(err, &v) || v.Field == "" || v.Reason == "" {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		if n := len(req.Series); n < domain.MinSeriesLength || n > domain.MaxSeriesLength || req.Horizon < domain.MinHorizon || req.Horizon > domain.MaxHorizon {
			t.Fatalf("accepted out-of-limits request: %d points, horizon %d", n, req.Horizon)
		}
		for _, y := range domain.Forecast(req.Series, req.Horizon) {
			if math.IsNaN(y) || math.IsInf(y, 0) {
				t.Fatalf("non-finite forecast for %q", body)
			}
		}
	})
}
