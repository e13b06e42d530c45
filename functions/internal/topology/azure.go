package topology

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"meterline/shared/funcapp"
)

// Built-in Azure role definitions the apps get (learn.microsoft.com, "Azure built-in roles").
const (
	RoleServiceBusSender   = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39" // Azure Service Bus Data Sender
	RoleServiceBusReceiver = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0" // Azure Service Bus Data Receiver
	RoleTableContributor   = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3" // Storage Table Data Contributor
	// The Functions host keeps its timer leases, schedule status and keys in blobs of
	// AzureWebJobsStorage and needs Storage Blob Data Owner for them with an identity-based
	// connection (learn.microsoft.com, "Connecting to host storage with an identity").
	RoleBlobOwner = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
)

// AzureRuleName is the rule name in Azure: a subscription created by ARM gets a "$Default"
// rule that takes every message, so the filter replaces it under that name. (The emulator's
// schema does not allow "$" in names: there it is RuleName; the filter is the same.)
const AzureRuleName = "$Default"

// Apps are the contexts' settings as the Azure template writes them.
type AppSettings struct {
	// Values are the app settings every app gets (local.settings.json's, minus the connections).
	Values map[string]string
	// Azure overrides Values in Azure (e.g. ProductSecureCookie=true: there it is HTTPS).
	Azure map[string]string
}

// Connection settings the template writes in their identity-based form.
const (
	StorageSetting    = "AzureWebJobsStorage"
	ServiceBusSetting = funcapp.DefaultServiceBusConnection
)

// Assignment is one role an app's identity gets on one resource.
type Assignment struct {
	App   string
	Role  string // role definition id
	Scope string // "storage", or "topic:<t>", "subscription:<t>/<s>", "queue:<q>"
}

// Assignments are the least-privilege roles: each app sends to its own topic and dead-letter
// queue, receives from exactly its subscriptions, and works with the storage account's tables
// and blobs (its own tables, and the host's blobs).
func (t Topology) Assignments(apps []string) []Assignment {
	var out []Assignment
	for _, app := range apps {
		out = append(out,
			Assignment{app, RoleTableContributor, "storage"},
			Assignment{app, RoleBlobOwner, "storage"},
			Assignment{app, RoleServiceBusSender, "queue:" + funcapp.DeadLetterQueue(app)})
		for _, tp := range t.Topics {
			if tp.Publisher == app {
				out = append(out, Assignment{app, RoleServiceBusSender, "topic:" + tp.Name})
			}
			for _, s := range tp.Subscriptions {
				if s.App == app {
					out = append(out, Assignment{app, RoleServiceBusReceiver, "subscription:" + tp.Name + "/" + s.Name})
				}
			}
		}
	}
	return out
}

var settingName = regexp.MustCompile(`^%([A-Za-z0-9_.:-]+)%$`)

// SettingsUsed lists the %Setting% names an app's function.json files refer to.
func SettingsUsed(a *funcapp.App) []string {
	var names []string
	for _, f := range a.Functions() {
		for _, b := range f.Definition().Bindings {
			for _, v := range []string{b.Schedule, b.TopicName, b.SubscriptionName, b.QueueName} {
				if m := settingName.FindStringSubmatch(v); m != nil && !slices.Contains(names, m[1]) {
					names = append(names, m[1])
				}
			}
		}
	}
	slices.Sort(names)
	return names
}

// AzureTemplate is the ARM template (deployable with az deployment group create) of the whole
// system: one storage account, one Service Bus namespace (Standard) with this topology,
// Application Insights, and per context a user-assigned identity, its role assignments and a
// Linux Function App (custom handler) on a shared plan, its settings identity-based: no secret
// in the template.
func (t Topology) AzureTemplate(contexts []Context, settings AppSettings) ([]byte, error) {
	var apps []string
	for _, c := range contexts {
		apps = append(apps, c.Name)
		for _, name := range SettingsUsed(c.App) {
			if _, ok := settings.Values[name]; !ok && settings.Azure[name] == "" {
				return nil, fmt.Errorf("topology: %s uses app setting %s, which has no value", c.Name, name)
			}
		}
	}
	values := maps.Clone(settings.Values)
	delete(values, StorageSetting)
	delete(values, ServiceBusSetting)
	delete(values, "FUNCTIONS_WORKER_RUNTIME")
	maps.Copy(values, settings.Azure)

	const (
		sbAPI      = "2022-10-01-preview"
		storageAPI = "2023-05-01"
		webAPI     = "2023-12-01"
		idAPI      = "2023-01-31"
		roleAPI    = "2022-04-01"
	)
	ns := "[variables('serviceBus')]"
	var resources []any
	add := func(r map[string]any) { resources = append(resources, r) }

	add(map[string]any{
		"type": "Microsoft.Storage/storageAccounts", "apiVersion": storageAPI, "name": "[variables('storage')]",
		"location": "[parameters('location')]", "kind": "StorageV2", "sku": map[string]any{"name": "Standard_LRS"},
		"properties": map[string]any{
			"allowSharedKeyAccess": false, "allowBlobPublicAccess": false, "minimumTlsVersion": "TLS1_2",
			"supportsHttpsTrafficOnly": true, "defaultToOAuthAuthentication": true,
		},
	})
	add(map[string]any{
		"type": "Microsoft.ServiceBus/namespaces", "apiVersion": sbAPI, "name": ns,
		"location": "[parameters('location')]", "sku": map[string]any{"name": "Standard", "tier": "Standard"},
		"properties": map[string]any{"disableLocalAuth": true, "minimumTlsVersion": "1.2"},
	})
	nsDep := "[resourceId('Microsoft.ServiceBus/namespaces', variables('serviceBus'))]"
	for _, q := range t.Queues {
		add(map[string]any{
			"type": "Microsoft.ServiceBus/namespaces/queues", "apiVersion": sbAPI,
			"name": fmt.Sprintf("[format('{0}/%s', variables('serviceBus'))]", q.Name), "dependsOn": []string{nsDep},
			"properties": map[string]any{"lockDuration": ISO8601(LockDuration), "maxDeliveryCount": MaxDeliveryCount,
				"defaultMessageTimeToLive": ISO8601(MessageLifetime)},
		})
	}
	for _, tp := range t.Topics {
		topicID := fmt.Sprintf("[resourceId('Microsoft.ServiceBus/namespaces/topics', variables('serviceBus'), '%s')]", tp.Name)
		add(map[string]any{
			"type": "Microsoft.ServiceBus/namespaces/topics", "apiVersion": sbAPI,
			"name": fmt.Sprintf("[format('{0}/%s', variables('serviceBus'))]", tp.Name), "dependsOn": []string{nsDep},
			"properties": map[string]any{"requiresDuplicateDetection": true, "duplicateDetectionHistoryTimeWindow": ISO8601(DuplicateWindow),
				"defaultMessageTimeToLive": ISO8601(MessageLifetime)},
		})
		for _, s := range tp.Subscriptions {
			subName := fmt.Sprintf("[format('{0}/%s/%s', variables('serviceBus'))]", tp.Name, s.Name)
			add(map[string]any{
				"type": "Microsoft.ServiceBus/namespaces/topics/subscriptions", "apiVersion": sbAPI, "name": subName,
				"dependsOn": []string{topicID},
				"properties": map[string]any{"lockDuration": ISO8601(LockDuration), "maxDeliveryCount": MaxDeliveryCount,
					"deadLetteringOnMessageExpiration": true},
			})
			add(map[string]any{
				"type": "Microsoft.ServiceBus/namespaces/topics/subscriptions/rules", "apiVersion": sbAPI,
				"name":       fmt.Sprintf("[format('{0}/%s/%s/%s', variables('serviceBus'))]", tp.Name, s.Name, AzureRuleName),
				"dependsOn":  []string{fmt.Sprintf("[resourceId('Microsoft.ServiceBus/namespaces/topics/subscriptions', variables('serviceBus'), '%s', '%s')]", tp.Name, s.Name)},
				"properties": map[string]any{"filterType": "SqlFilter", "sqlFilter": map[string]any{"sqlExpression": s.Rule}},
			})
		}
	}
	add(map[string]any{
		"type": "Microsoft.OperationalInsights/workspaces", "apiVersion": "2023-09-01", "name": "[variables('logs')]",
		"location": "[parameters('location')]", "properties": map[string]any{"sku": map[string]any{"name": "PerGB2018"}, "retentionInDays": 30},
	})
	add(map[string]any{
		"type": "Microsoft.Insights/components", "apiVersion": "2020-02-02", "name": "[variables('insights')]",
		"location": "[parameters('location')]", "kind": "web",
		"dependsOn":  []string{"[resourceId('Microsoft.OperationalInsights/workspaces', variables('logs'))]"},
		"properties": map[string]any{"Application_Type": "web", "WorkspaceResourceId": "[resourceId('Microsoft.OperationalInsights/workspaces', variables('logs'))]", "DisableLocalAuth": false},
	})
	add(map[string]any{
		"type": "Microsoft.Web/serverfarms", "apiVersion": webAPI, "name": "[variables('plan')]",
		"location": "[parameters('location')]", "kind": "linux", "sku": map[string]any{"name": "[parameters('planSku')]"},
		"properties": map[string]any{"reserved": true},
	})
	for _, app := range apps {
		identity := fmt.Sprintf("[format('{0}-%s-id', parameters('namePrefix'))]", app)
		identityID := fmt.Sprintf("[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', format('{0}-%s-id', parameters('namePrefix')))]", app)
		add(map[string]any{
			"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": idAPI, "name": identity,
			"location": "[parameters('location')]",
		})
		var appSettings []any
		set := func(name, value string) {
			appSettings = append(appSettings, map[string]string{"name": name, "value": value})
		}
		clientID := fmt.Sprintf("[reference(%s, '%s').clientId]", strings.Trim(identityID, "[]"), idAPI)
		set("FUNCTIONS_EXTENSION_VERSION", "~4")
		set("FUNCTIONS_WORKER_RUNTIME", "custom")
		set("WEBSITE_RUN_FROM_PACKAGE", "1")
		set(StorageSetting+"__accountName", "[variables('storage')]")
		set(StorageSetting+"__credential", "managedidentity")
		set(StorageSetting+"__clientId", clientID)
		set(ServiceBusSetting+"__fullyQualifiedNamespace", "[format('{0}.servicebus.windows.net', variables('serviceBus'))]")
		set(ServiceBusSetting+"__credential", "managedidentity")
		set(ServiceBusSetting+"__clientId", clientID)
		set("APPLICATIONINSIGHTS_CONNECTION_STRING", "[reference(resourceId('Microsoft.Insights/components', variables('insights')), '2020-02-02').ConnectionString]")
		set("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "[format('ClientId={0};Authorization=AAD', "+strings.Trim(clientID, "[]")+")]")
		for _, name := range slices.Sorted(maps.Keys(values)) {
			set(name, values[name])
		}
		add(map[string]any{
			"type": "Microsoft.Web/sites", "apiVersion": webAPI, "name": fmt.Sprintf("[format('{0}-%s', parameters('namePrefix'))]", app),
			"location": "[parameters('location')]", "kind": "functionapp,linux",
			"identity": map[string]any{"type": "UserAssigned", "userAssignedIdentities": map[string]any{identityID: map[string]any{}}},
			"dependsOn": []string{identityID, "[resourceId('Microsoft.Web/serverfarms', variables('plan'))]",
				"[resourceId('Microsoft.Insights/components', variables('insights'))]"},
			"properties": map[string]any{
				"serverFarmId": "[resourceId('Microsoft.Web/serverfarms', variables('plan'))]", "httpsOnly": true, "reserved": true,
				"keyVaultReferenceIdentity": identityID,
				"siteConfig":                map[string]any{"appSettings": appSettings, "ftpsState": "Disabled", "minTlsVersion": "1.2", "alwaysOn": true},
			},
		})
	}
	for _, a := range t.Assignments(apps) {
		scope, dep := assignmentScope(a.Scope)
		principal := fmt.Sprintf("reference(resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', format('{0}-%s-id', parameters('namePrefix'))), '%s').principalId", a.App, idAPI)
		add(map[string]any{
			"type": "Microsoft.Authorization/roleAssignments", "apiVersion": roleAPI,
			"name":  fmt.Sprintf("[guid(%s, '%s', '%s')]", strings.Trim(dep, "[]"), a.App, a.Role),
			"scope": scope,
			"dependsOn": []string{dep,
				fmt.Sprintf("[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', format('{0}-%s-id', parameters('namePrefix')))]", a.App)},
			"properties": map[string]any{
				"roleDefinitionId": fmt.Sprintf("[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '%s')]", a.Role),
				"principalId":      "[" + principal + "]", "principalType": "ServicePrincipal",
			},
		})
	}
	outputs := map[string]any{
		"serviceBusNamespace": map[string]any{"type": "string", "value": "[format('{0}.servicebus.windows.net', variables('serviceBus'))]"},
		"storageAccount":      map[string]any{"type": "string", "value": "[variables('storage')]"},
	}
	for _, app := range apps {
		outputs[app+"App"] = map[string]any{"type": "string", "value": fmt.Sprintf("[format('{0}-%s', parameters('namePrefix'))]", app)}
	}
	template := map[string]any{
		"$schema":        "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
		"contentVersion": "1.0.0.0",
		"metadata":       map[string]any{"description": "meterline: generated by functions/cmd/topology from the contexts' registrations; do not edit"},
		"parameters": map[string]any{
			"namePrefix": map[string]any{"type": "string", "minLength": 3, "maxLength": 11,
				"metadata": map[string]any{"description": "lower-case letters and digits; names every resource"}},
			"location": map[string]any{"type": "string", "defaultValue": "[resourceGroup().location]"},
			"planSku": map[string]any{"type": "string", "defaultValue": "B1", "allowedValues": []string{"B1", "S1", "P0v3", "P1v3", "EP1"},
				"metadata": map[string]any{"description": "the App Service plan of the Function Apps (Linux)"}},
		},
		"variables": map[string]any{
			"storage":    "[format('{0}{1}', parameters('namePrefix'), substring(uniqueString(resourceGroup().id), 0, 8))]",
			"serviceBus": "[format('{0}-{1}', parameters('namePrefix'), uniqueString(resourceGroup().id))]",
			"logs":       "[format('{0}-logs', parameters('namePrefix'))]",
			"insights":   "[format('{0}-insights', parameters('namePrefix'))]",
			"plan":       "[format('{0}-plan', parameters('namePrefix'))]",
		},
		"resources": resources,
		"outputs":   outputs,
	}
	b, err := json.MarshalIndent(template, "", "  ")
	return append(b, '\n'), err
}

// assignmentScope is the ARM scope and resource id of an assignment's target.
func assignmentScope(s string) (scope, id string) {
	kind, target, _ := strings.Cut(s, ":")
	switch kind {
	case "storage":
		return "[format('Microsoft.Storage/storageAccounts/{0}', variables('storage'))]",
			"[resourceId('Microsoft.Storage/storageAccounts', variables('storage'))]"
	case "topic":
		return fmt.Sprintf("[format('Microsoft.ServiceBus/namespaces/{0}/topics/%s', variables('serviceBus'))]", target),
			fmt.Sprintf("[resourceId('Microsoft.ServiceBus/namespaces/topics', variables('serviceBus'), '%s')]", target)
	case "queue":
		return fmt.Sprintf("[format('Microsoft.ServiceBus/namespaces/{0}/queues/%s', variables('serviceBus'))]", target),
			fmt.Sprintf("[resourceId('Microsoft.ServiceBus/namespaces/queues', variables('serviceBus'), '%s')]", target)
	}
	topic, sub, _ := strings.Cut(target, "/")
	return fmt.Sprintf("[format('Microsoft.ServiceBus/namespaces/{0}/topics/%s/subscriptions/%s', variables('serviceBus'))]", topic, sub),
		fmt.Sprintf("[resourceId('Microsoft.ServiceBus/namespaces/topics/subscriptions', variables('serviceBus'), '%s', '%s')]", topic, sub)
}
