package funchost

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// RetryPolicy is a host.json or function.json "retry" section: the host runs
// a failed execution again, up to MaxRetryCount more times, waiting between
// attempts (FunctionExecutorExtensions.TryExecuteAsync in azure-webjobs-sdk).
type RetryPolicy struct {
	Strategy        string // "fixedDelay" or "exponentialBackoff"
	MaxRetryCount   int    // retries after the first attempt; -1 retries forever
	DelayInterval   time.Duration
	MinimumInterval time.Duration
	MaximumInterval time.Duration
}

// parseRetry validates a retry section as Utility.ValidateRetryOptions and
// the retry attributes' constructors do.
func parseRetry(raw json.RawMessage) (*RetryPolicy, error) {
	var r struct {
		Strategy        string  `json:"strategy"`
		MaxRetryCount   *int    `json:"maxRetryCount"`
		DelayInterval   *string `json:"delayInterval"`
		MinimumInterval *string `json:"minimumInterval"`
		MaximumInterval *string `json:"maximumInterval"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, err
	}
	p := &RetryPolicy{}
	switch strings.ToLower(r.Strategy) {
	case "fixeddelay":
		p.Strategy = "fixedDelay"
	case "exponentialbackoff":
		p.Strategy = "exponentialBackoff"
	case "":
		return nil, errors.New("strategy is required (fixedDelay or exponentialBackoff)")
	default:
		return nil, fmt.Errorf("strategy must be fixedDelay or exponentialBackoff, got %q", r.Strategy)
	}
	if r.MaxRetryCount == nil {
		return nil, errors.New("maxRetryCount is required")
	}
	if *r.MaxRetryCount < -1 {
		return nil, fmt.Errorf("maxRetryCount must be -1 (forever) or more, got %d", *r.MaxRetryCount)
	}
	p.MaxRetryCount = *r.MaxRetryCount
	span := func(name string, v *string) (time.Duration, error) {
		if v == nil {
			return 0, fmt.Errorf("%s is required with strategy %s", name, p.Strategy)
		}
		d, err := ParseTimeSpan(*v)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("%s: not a TimeSpan: %q", name, *v)
		}
		return d, nil
	}
	var err error
	if p.Strategy == "fixedDelay" {
		if p.DelayInterval, err = span("delayInterval", r.DelayInterval); err != nil {
			return nil, err
		}
		return p, nil
	}
	if p.MinimumInterval, err = span("minimumInterval", r.MinimumInterval); err != nil {
		return nil, err
	}
	if p.MaximumInterval, err = span("maximumInterval", r.MaximumInterval); err != nil {
		return nil, err
	}
	if p.MaximumInterval < p.MinimumInterval {
		return nil, errors.New("maximumInterval must not be less than minimumInterval")
	}
	return p, nil
}

// exhausted reports whether retry number n (1 for the first retry) is past
// the policy's limit.
func (p *RetryPolicy) exhausted(n int) bool {
	return p.MaxRetryCount != -1 && n > p.MaxRetryCount
}

// delay is the wait before retry number n. Exponential backoff doubles from
// MinimumInterval up to MaximumInterval; the WebJobs SDK also randomizes it a
// little, which is left out here.
func (p *RetryPolicy) delay(n int) time.Duration {
	if p.Strategy == "fixedDelay" {
		return p.DelayInterval
	}
	d := p.MinimumInterval
	for i := 1; i < n && d < p.MaximumInterval; i++ {
		d *= 2
	}
	return min(d, p.MaximumInterval)
}

// retryContext is Metadata.RetryContext of an invocation under a retry
// policy (ScriptInvocationContextExtensions.SetRetryContext): the retry
// count (0 on the first attempt), the limit, and the previous failure.
func retryContext(p *RetryPolicy, n int, last error) map[string]any {
	var exc any
	if last != nil {
		exc = map[string]any{"ClassName": "Microsoft.Azure.WebJobs.Host.FunctionInvocationException", "Message": last.Error()}
	}
	return map[string]any{"RetryCount": n, "MaxRetryCount": p.MaxRetryCount, "Exception": exc}
}
