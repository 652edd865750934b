package org.brainregistry.hapi;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.interceptor.api.IInterceptorService;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings.ClientIdStrategyEnum;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings.IdStrategyEnum;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings.StoreMetaSourceInformationEnum;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.config.SubscriptionSettings;
import ca.uhn.fhir.jpa.model.entity.StorageSettings.IndexEnabledEnum;
import ca.uhn.fhir.jpa.provider.IJpaSystemProvider;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.provider.SubscriptionTriggeringProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import ca.uhn.fhir.jpa.subscription.match.config.SubscriptionProcessorConfig;
import ca.uhn.fhir.jpa.subscription.match.deliver.email.IEmailSender;
import ca.uhn.fhir.jpa.subscription.submit.config.SubscriptionSubmitterConfig;
import ca.uhn.fhir.jpa.subscription.util.SubscriptionDebugLogInterceptor;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.interceptor.LoggingInterceptor;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import org.hl7.fhir.dstu2.model.Subscription.SubscriptionChannelType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;

/**
 * Assembles HAPI FHIR's JPA server (R4), its rest-hook subscription pipeline and the REST servlet.
 *
 * <p>Everything that is not needed by a sync peer (GraphQL, bulk export and import, terminology
 * upload, validation interceptors, MDM, websockets, the HTML test page) is left out.
 */
@Configuration
@Import({
  JpaR4Config.class,
  HapiJpaConfig.class,
  ThreadPoolFactoryConfig.class,
  JpaBatch2Config.class,
  Batch2JobsConfig.class,
  SubscriptionSubmitterConfig.class,
  SubscriptionProcessorConfig.class,
  SubscriptionChannelConfig.class
})
public class FhirServerConfig {

  private static final Logger LOG = LoggerFactory.getLogger(FhirServerConfig.class);

  @Bean
  public JpaStorageSettings storageSettings() {
    JpaStorageSettings settings = new JpaStorageSettings();

    // Clients may PUT-create resources with their own ids as long as the id is not purely
    // numeric. Ids that the server assigns are UUIDs, so they never collide with client ids.
    settings.setResourceClientIdStrategy(ClientIdStrategyEnum.ALPHANUMERIC);
    settings.setResourceServerIdStrategy(IdStrategyEnum.UUID);

    // HAPI 8.8 reuses the result set of an identical search made within the last 60 s by
    // default, so a poller would see stale data. Null turns the reuse and its lookup off.
    settings.setReuseCachedSearchResultsForMillis(null);

    // The following are HAPI 8.8 defaults, stated here because the sync code depends on them.
    settings.setResourceDbHistoryEnabled(true);
    settings.setDeleteEnabled(true);
    settings.setEnforceReferentialIntegrityOnWrite(true);
    settings.setEnforceReferentialIntegrityOnDelete(true);
    settings.setAllowExternalReferences(false);
    settings.setStoreMetaSourceInformation(
        StoreMetaSourceInformationEnum.SOURCE_URI_AND_REQUEST_ID);
    settings.setSchedulingDisabled(false);

    // $expunge lets test suites remove what they wrote. The hapiproject/hapi image enables it too.
    settings.setExpungeEnabled(true);

    // Less work per write and at start-up: no ":missing" indexes, no value set pre-expansion,
    // no Hibernate Search indexing.
    settings.setIndexMissingFields(IndexEnabledEnum.DISABLED);
    settings.setPreExpandValueSets(false);
    settings.setEnableTaskPreExpandValueSets(false);
    settings.setHibernateSearchIndexFullText(false);
    settings.setHibernateSearchIndexSearchParams(false);
    return settings;
  }

  @Bean
  public PartitionSettings partitionSettings() {
    return new PartitionSettings();
  }

  /**
   * Enables rest-hook subscriptions and shortens the submission interval.
   *
   * <p>Since HAPI 7.0 every change is stored in HFJ_RESOURCE_MODIFIED and a scheduled job hands
   * the stored changes to the matcher, every 5000 ms by default. The interval is the main part
   * of the delay between a write and its rest-hook delivery.
   */
  @Bean
  public SubscriptionSettings subscriptionSettings(
      @Value("${hapi.fhir.subscription.polling_interval_ms:1000}") long submissionIntervalMs) {
    SubscriptionSettings settings = new SubscriptionSettings();
    settings.addSupportedSubscriptionType(SubscriptionChannelType.RESTHOOK);
    settings.setSubscriptionIntervalInMs(submissionIntervalMs);
    // "Queued immediately" stays off. In HAPI 8.8 it only applies to Subscription resources, and
    // it hands the change to the matcher before the write commits. The matcher then reads the
    // old state: a new Subscription fails once with HAPI-2001 and is retried, and a deleted
    // Subscription stays registered and keeps delivering.
    settings.setSubscriptionChangeQueuedImmediately(false);
    LOG.info("Rest-hook subscriptions enabled, submission interval {} ms", submissionIntervalMs);
    return settings;
  }

  /**
   * Rejects e-mail deliveries. HAPI's delivery listener factory requires an e-mail sender, but only
   * rest-hook is a supported channel type here, so HAPI 8.8 never activates an e-mail Subscription
   * (it stays "requested") and this sender is never called.
   */
  @Bean
  public IEmailSender emailSender() {
    return details -> {
      throw new UnsupportedOperationException("E-mail subscriptions are not supported");
    };
  }

  @Bean
  public RestfulServer restfulServer(
      IFhirSystemDao<?, ?> systemDao,
      ResourceProviderFactory resourceProviderFactory,
      IJpaSystemProvider systemProvider,
      SubscriptionTriggeringProvider subscriptionTriggeringProvider,
      JpaStorageSettings storageSettings,
      ISearchParamRegistry searchParamRegistry,
      IValidationSupport validationSupport,
      DatabaseBackedPagingProvider pagingProvider) {
    RestfulServer server = new RestfulServer(systemDao.getContext());

    // Resource types with their CRUD, search and _history operations, then the system level:
    // transaction and batch bundles, _history and $trigger-subscription.
    server.registerProviders(resourceProviderFactory.createProviders());
    server.registerProvider(systemProvider);
    server.registerProvider(subscriptionTriggeringProvider);

    JpaCapabilityStatementProvider capabilityStatementProvider =
        new JpaCapabilityStatementProvider(
            server, systemDao, storageSettings, searchParamRegistry, validationSupport);
    capabilityStatementProvider.setImplementationDescription("Brain Registry HAPI FHIR R4 server");
    server.setServerConformanceProvider(capabilityStatementProvider);

    // Searches and _history are paged through the database, so paging links survive between
    // requests. A sync client may ask for up to 500 entries a page.
    pagingProvider.setDefaultPageSize(20);
    pagingProvider.setMaximumPageSize(500);
    server.setPagingProvider(pagingProvider);

    LoggingInterceptor requestLogger = new LoggingInterceptor();
    requestLogger.setMessageFormat(
        "${requestVerb} ${requestUrl} ${operationType} ${idOrResourceName}"
            + " request-id=${requestId} ${processingTimeMillis} ms");
    requestLogger.setLogExceptions(true);
    server.registerInterceptor(requestLogger);
    return server;
  }

  /**
   * Logs each step of subscription matching and delivery at INFO, including failed deliveries.
   * Registered with HAPI's global interceptor service, because the matching and delivery steps run
   * outside any request and so never reach interceptors registered on the REST server.
   */
  @Bean
  public SubscriptionDebugLogInterceptor subscriptionDebugLogInterceptor(
      IInterceptorService interceptorService) {
    SubscriptionDebugLogInterceptor interceptor = new SubscriptionDebugLogInterceptor();
    interceptorService.registerInterceptor(interceptor);
    return interceptor;
  }
}
