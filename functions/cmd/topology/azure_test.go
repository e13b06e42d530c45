package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"meterline/functions/internal/apps"
	"meterline/functions/internal/topology"
	"meterline/infra/servicebus-emulator/config"
	"meterline/shared/azurite"
	"meterline/shared/funcapp"
)

// armTemplate is the generated template, decoded.
func armTemplate(t *testing.T) (map[string]any, []map[string]any) {
	t.Helper()
	files, _ := generated(t)
	var tmpl map[string]any
	if err := json.Unmarshal(files[AzureTemplate], &tmpl); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	var resources []map[string]any
	for _, r := range tmpl["resources"].([]any) {
		resources = append(resources, r.(map[string]any))
	}
	return tmpl, resources
}

var (
	variableRef  = regexp.MustCompile(`variables\('([A-Za-z]+)'\)`)
	parameterRef = regexp.MustCompile(`parameters\('([A-Za-z]+)'\)`)
)

// Well-formed ARM, checked offline: the schema, every resource typed and versioned, every
// expression balanced and naming only variables and parameters the template declares.
func TestAzureTemplateIsWellFormed(t *testing.T) {
	tmpl, resources := armTemplate(t)
	if !strings.HasPrefix(tmpl["$schema"].(string), "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json") || tmpl["contentVersion"] != "1.0.0.0" {
		t.Fatalf("schema %v, contentVersion %v", tmpl["$schema"], tmpl["contentVersion"])
	}
	vars, params := tmpl["variables"].(map[string]any), tmpl["parameters"].(map[string]any)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				walk(path+"."+k, k)
				walk(path+"."+k, x)
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), x)
			}
		case string:
			if !strings.HasPrefix(v, "[") {
				return
			}
			if !strings.HasSuffix(v, "]") || strings.Count(v, "(") != strings.Count(v, ")") || strings.Count(v, "'")%2 != 0 {
				t.Errorf("%s: unbalanced expression %s", path, v)
			}
			for _, m := range variableRef.FindAllStringSubmatch(v, -1) {
				if _, ok := vars[m[1]]; !ok {
					t.Errorf("%s: undefined variable %s", path, m[1])
				}
			}
			for _, m := range parameterRef.FindAllStringSubmatch(v, -1) {
				if _, ok := params[m[1]]; !ok {
					t.Errorf("%s: undefined parameter %s", path, m[1])
				}
			}
		}
	}
	walk("$", tmpl)
	for i, r := range resources {
		if r["type"] == nil || r["apiVersion"] == nil || r["name"] == nil {
			t.Errorf("resource %d lacks type, apiVersion or name: %v", i, r)
		}
	}
	raw, _ := json.Marshal(tmpl)
	for _, secret := range []string{"AccountKey=", "SharedAccessKey", "InstrumentationKey=", "UseDevelopment"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the template holds %q: no secret, nor a local connection, belongs in it", secret)
		}
	}
}

func ofType(resources []map[string]any, typ string) []map[string]any {
	var out []map[string]any
	for _, r := range resources {
		if r["type"] == typ {
			out = append(out, r)
		}
	}
	return out
}

// nameEnd is the last literal segment of a generated resource name: "[format('{0}/t/s', ...)]" -> "t/s".
func nameEnd(r map[string]any) string {
	name := r["name"].(string)
	if m := regexp.MustCompile(`\{0\}/([^']+)'`).FindStringSubmatch(name); m != nil {
		return m[1]
	}
	if m := regexp.MustCompile(`\{0\}-([a-z]+)'`).FindStringSubmatch(name); m != nil {
		return m[1]
	}
	return name
}

// Every entity the apps need is there: the namespace, storage, insights, a plan, and per context
// an identity and a Linux custom-handler Function App; every topic, subscription and queue, with
// the emulator's very rule on each subscription.
func TestAzureTemplateHasEveryResourceAndTheEmulatorsRules(t *testing.T) {
	_, resources := armTemplate(t)
	for _, typ := range []string{"Microsoft.Storage/storageAccounts", "Microsoft.ServiceBus/namespaces", "Microsoft.Insights/components",
		"Microsoft.OperationalInsights/workspaces", "Microsoft.Web/serverfarms"} {
		if len(ofType(resources, typ)) != 1 {
			t.Errorf("%d resources of type %s, want 1", len(ofType(resources, typ)), typ)
		}
	}
	if ns := ofType(resources, "Microsoft.ServiceBus/namespaces"); len(ns) == 1 && ns[0]["sku"].(map[string]any)["name"] != "Standard" {
		t.Errorf("Service Bus sku %v, want Standard (topics)", ns[0]["sku"])
	}
	sites := map[string]map[string]any{}
	for _, s := range ofType(resources, "Microsoft.Web/sites") {
		sites[nameEnd(s)] = s
		if s["kind"] != "functionapp,linux" {
			t.Errorf("site %s kind %v", nameEnd(s), s["kind"])
		}
	}
	root, _ := azurite.RepoRoot()
	cfg, err := config.Load(root + "/" + EmulatorConfig)
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]string{}
	for _, r := range ofType(resources, "Microsoft.ServiceBus/namespaces/topics/subscriptions/rules") {
		sub := strings.TrimSuffix(nameEnd(r), "/"+topology.AzureRuleName)
		rules[sub] = r["properties"].(map[string]any)["sqlFilter"].(map[string]any)["sqlExpression"].(string)
	}
	emulatorRules := map[string]string{}
	for _, tp := range cfg.Namespaces[0].Topics {
		if !slices.ContainsFunc(ofType(resources, "Microsoft.ServiceBus/namespaces/topics"), func(r map[string]any) bool { return nameEnd(r) == tp.Name }) {
			t.Errorf("topic %s is not in the template", tp.Name)
		}
		for _, s := range tp.Subscriptions {
			if len(s.Rules) != 1 {
				t.Errorf("emulator subscription %s/%s has %d rules", tp.Name, s.Name, len(s.Rules))
				continue
			}
			expr := fmt.Sprint(s.Rules[0].Filter)
			if sql, ok := s.Rules[0].Filter.(interface{ Expression() string }); ok {
				expr = sql.Expression() // as written in config.json
			}
			emulatorRules[tp.Name+"/"+s.Name] = expr
		}
	}
	if fmt.Sprint(rules) != fmt.Sprint(emulatorRules) {
		t.Errorf("subscription rules differ\n azure    %v\n emulator %v", rules, emulatorRules)
	}
	for _, q := range cfg.Namespaces[0].Queues {
		if !slices.ContainsFunc(ofType(resources, "Microsoft.ServiceBus/namespaces/queues"), func(r map[string]any) bool { return nameEnd(r) == q.Name }) {
			t.Errorf("queue %s is not in the template", q.Name)
		}
	}
	for _, c := range apps.Contexts() {
		site := sites[c.Name]
		if site == nil {
			t.Errorf("no Function App for %s", c.Name)
			continue
		}
		settings := map[string]string{}
		for _, s := range site["properties"].(map[string]any)["siteConfig"].(map[string]any)["appSettings"].([]any) {
			kv := s.(map[string]any)
			settings[kv["name"].(string)] = kv["value"].(string)
		}
		// Every %Setting% its function.json files use, and the identity-based connections.
		for _, name := range append(topology.SettingsUsed(c.App), "FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage__accountName",
			"AzureWebJobsStorage__credential", "ServiceBusConnection__fullyQualifiedNamespace", "ServiceBusConnection__clientId") {
			if settings[name] == "" {
				t.Errorf("%s: app setting %s is not set", c.Name, name)
			}
		}
		if settings["FUNCTIONS_WORKER_RUNTIME"] != "custom" || settings["ProductSecureCookie"] != "true" {
			t.Errorf("%s: worker runtime %q, ProductSecureCookie %q", c.Name, settings["FUNCTIONS_WORKER_RUNTIME"], settings["ProductSecureCookie"])
		}
	}
}

// Least privilege, derived here from the registrations independently of the generator: each
// identity receives from exactly the subscriptions of its Service Bus functions, sends to its
// own topic and dead-letter queue, and nothing else on Service Bus.
func TestAzureTemplateGrantsEachIdentityExactlyWhatItsFunctionsUse(t *testing.T) {
	_, resources := armTemplate(t)
	got := map[string][]string{}
	for _, r := range ofType(resources, "Microsoft.Authorization/roleAssignments") {
		p := r["properties"].(map[string]any)
		principal := regexp.MustCompile(`format\('\{0\}-([a-z]+)-id'`).FindStringSubmatch(p["principalId"].(string))
		role := regexp.MustCompile(`roleDefinitions', '([0-9a-f-]+)'`).FindStringSubmatch(p["roleDefinitionId"].(string))
		if principal == nil || role == nil || p["principalType"] != "ServicePrincipal" {
			t.Fatalf("role assignment %v", p)
		}
		scope := r["scope"].(string)
		got[principal[1]] = append(got[principal[1]], role[1]+" "+scope)
	}
	for _, c := range apps.Contexts() {
		want := []string{
			topology.RoleTableContributor + " [format('Microsoft.Storage/storageAccounts/{0}', variables('storage'))]",
			topology.RoleBlobOwner + " [format('Microsoft.Storage/storageAccounts/{0}', variables('storage'))]",
			topology.RoleServiceBusSender + fmt.Sprintf(" [format('Microsoft.ServiceBus/namespaces/{0}/queues/%s', variables('serviceBus'))]", funcapp.DeadLetterQueue(c.Name)),
		}
		if c.Topic != "" {
			want = append(want, topology.RoleServiceBusSender+fmt.Sprintf(" [format('Microsoft.ServiceBus/namespaces/{0}/topics/%s', variables('serviceBus'))]", c.Topic))
		}
		for _, f := range c.App.Functions() {
			if f.Kind == funcapp.KindServiceBus {
				want = append(want, topology.RoleServiceBusReceiver+fmt.Sprintf(" [format('Microsoft.ServiceBus/namespaces/{0}/topics/%s/subscriptions/%s', variables('serviceBus'))]",
					f.ServiceBus.Topic, f.ServiceBus.Subscription))
			}
		}
		slices.Sort(want)
		slices.Sort(got[c.Name])
		if !slices.Equal(got[c.Name], want) {
			t.Errorf("%s's roles:\n got  %v\n want %v", c.Name, got[c.Name], want)
		}
	}
}
