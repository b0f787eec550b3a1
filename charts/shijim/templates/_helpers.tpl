{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "shijim.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped base name of every namespaced object. */}}
{{- define "shijim.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "shijim.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "shijim.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: shijim
{{- end }}

{{- define "shijim.operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "shijim.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "shijim.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (printf "%s-operator" (include "shijim.fullname" .)) .Values.operator.serviceAccount.name }}
{{- else }}
{{- required "operator.serviceAccount.name is required when operator.serviceAccount.create is false" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Operator image: digest wins over tag; the tag defaults to the chart's appVersion. */}}
{{- define "shijim.operator.image" -}}
{{- $img := .Values.operator.image }}
{{- if $img.digest }}
{{- printf "%s@%s" $img.repository $img.digest }}
{{- else }}
{{- printf "%s:%s" $img.repository (default .Chart.AppVersion $img.tag) }}
{{- end }}
{{- end }}

{{/* true when the operator watches every namespace (ClusterRole) */}}
{{- define "shijim.clusterWide" -}}
{{- if not .Values.operator.watchNamespaces }}true{{- end }}
{{- end }}

{{/* Namespaces where runtime pods run, as a JSON list (the monitors' namespaceSelector). */}}
{{- define "shijim.runtimeNamespaces" -}}
{{- $ns := .Values.runtime.namespaces }}
{{- if not $ns }}{{- $ns = .Values.operator.watchNamespaces }}{{- end }}
{{- if not $ns }}{{- $ns = list .Release.Namespace }}{{- end }}
{{- $ns | uniq | toJson }}
{{- end }}

{{/* Where the monitors look for runtime pods. */}}
{{- define "shijim.monitorNamespaceSelector" -}}
{{- if and (include "shijim.clusterWide" .) (not .Values.runtime.namespaces) }}
any: true
{{- else }}
matchNames:
{{- range (include "shijim.runtimeNamespaces" . | fromJsonArray) }}
  - {{ . | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* Relabelings shared by the PodMonitor and the ServiceMonitor: the alerts select job
shijim-runtime; the pod-index label (Kubernetes >= 1.28) becomes `shard` on `up`; the operator's
instance label (the TradingShard's name) becomes `tradingshard`, which the broker-rate alert sums
over (all shards of a TradingShard share one broker account). */}}
{{- define "shijim.monitorRelabelings" -}}
- targetLabel: job
  replacement: shijim-runtime
- sourceLabels: [__meta_kubernetes_pod_label_apps_kubernetes_io_pod_index]
  targetLabel: shard
- sourceLabels: [__meta_kubernetes_pod_label_app_kubernetes_io_instance]
  targetLabel: tradingshard
{{- end }}
