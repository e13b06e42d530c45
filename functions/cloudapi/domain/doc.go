// Package domain holds the Cloud API's rules, free of any storage or Azure type:
// the forecast (Holt's linear exponential smoothing), what a valid forecast request is, who may
// call the API (access rules over the replicated keys, users and customers), and how metered
// consumption is grouped into usage reports.
package domain
