package product_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"meterline/functions/product"
	subs "meterline/functions/subscriptions/contracts"
)

// BenchmarkSignIn measures a successful sign-in through the handler on in-memory views with a
// production-cost bcrypt hash (bcrypt.DefaultCost): the figure is dominated by bcrypt, on
// purpose.
func BenchmarkSignIn(b *testing.B) {
	w := newPortalWorld(b, memoryViews())
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.DefaultCost)
	if err != nil {
		b.Fatal(err)
	}
	w.publish(subs.UserStream("u1"), subs.TypeUserCreated, subs.UserCreated{UserID: "u1", CustomerID: "c1", Email: "ann@example.com"})
	w.publish(subs.UserStream("u1"), subs.TypeUserPasswordSet, subs.UserPasswordSet{UserID: "u1", CustomerID: "c1", PasswordHash: string(h)})
	body, _ := json.Marshal(map[string]string{"email": "ann@example.com", "password": "pw"})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := http.Post(w.srv.URL+"/api/product/signin", "application/json", strings.NewReader(string(body)))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("sign-in: %d", resp.StatusCode)
		}
	}
}

// BenchmarkMe measures GET /api/product/me (session check + account + usage reads).
func BenchmarkMe(b *testing.B) {
	a := product.New(product.Deps{Views: memoryViews()})
	a.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	w := &portalWorld{t: b, srv: srv, seq: map[string]int64{}}
	w.seedCustomer("c1", "u1", "ann@example.com", "pw1")
	br := w.browser()
	if r := br.signIn("ann@example.com", "pw1"); r.status != 200 {
		b.Fatalf("sign-in: %d", r.status)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", srv.URL+"/api/product/me", nil)
			for _, c := range br.client.Jar.Cookies(req.URL) {
				req.AddCookie(c)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("me: %d", resp.StatusCode)
				return
			}
		}
	})
}
