package org.brainregistry.hapi;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirPostgresDialect;
import jakarta.persistence.EntityManagerFactory;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.Map;
import javax.sql.DataSource;
import org.hibernate.boot.model.naming.CamelCaseToUnderscoresNamingStrategy;
import org.hibernate.cfg.AvailableSettings;
import org.hibernate.search.mapper.orm.cfg.HibernateOrmMapperSettings;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.boot.orm.jpa.hibernate.SpringImplicitNamingStrategy;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Primary;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;

/**
 * Builds the JPA entity manager factory and transaction manager that HAPI's DAOs use.
 *
 * <p>The data source itself comes from Spring Boot (Hikari, {@code spring.datasource.*}).
 */
@Configuration
public class PersistenceConfig {

  private static final Logger LOG = LoggerFactory.getLogger(PersistenceConfig.class);

  @Primary
  @Bean
  public LocalContainerEntityManagerFactoryBean entityManagerFactory(
      ConfigurableListableBeanFactory beanFactory,
      FhirContext fhirContext,
      JpaStorageSettings storageSettings,
      DataSource dataSource,
      @Value("${hibernate.hbm2ddl.auto:}") String configuredSchemaAction) {
    String schemaAction = chooseSchemaAction(configuredSchemaAction, dataSource);
    LocalContainerEntityManagerFactoryBean factory =
        HapiEntityManagerFactoryUtil.newEntityManagerFactory(
            beanFactory, fhirContext, storageSettings);
    factory.setPersistenceUnitName("HAPI_PU");
    factory.setDataSource(dataSource);
    factory.setJpaPropertyMap(hibernateProperties(schemaAction));
    return factory;
  }

  /**
   * Records the schema marker once the entity manager factory, and so the schema update, is ready.
   */
  @Bean
  public SchemaMarkerWriter schemaMarkerWriter(
      EntityManagerFactory entityManagerFactory, DataSource dataSource) throws SQLException {
    SchemaMarker.record(dataSource);
    return new SchemaMarkerWriter();
  }

  /** Bean type that only exists so the marker is written after the schema update. */
  public static final class SchemaMarkerWriter {}

  @Primary
  @Bean
  public JpaTransactionManager transactionManager(EntityManagerFactory entityManagerFactory) {
    return new JpaTransactionManager(entityManagerFactory);
  }

  /**
   * Returns the hbm2ddl action. A configured hibernate.hbm2ddl.auto wins. Otherwise the action is
   * "none" when the schema marker shows that this HAPI version already brought the schema up to
   * date, and "update" (create HAPI's tables in an empty database, add missing ones) when not.
   */
  private static String chooseSchemaAction(String configuredSchemaAction, DataSource dataSource) {
    if (!configuredSchemaAction.isBlank()) {
      return configuredSchemaAction;
    }
    if (SchemaMarker.isCurrent(dataSource)) {
      LOG.info(
          "Schema is current for {}, skipping the Hibernate schema update",
          SchemaMarker.currentMarker());
      return "none";
    }
    LOG.info("Running the Hibernate schema update for {}", SchemaMarker.currentMarker());
    return "update";
  }

  /**
   * Returns the Hibernate settings. HAPI's HibernatePropertiesProvider reads "hibernate.dialect"
   * from this map, so the dialect must be set here and not only detected from the connection.
   */
  private static Map<String, Object> hibernateProperties(String schemaAction) {
    Map<String, Object> properties = new HashMap<>();
    properties.put(AvailableSettings.DIALECT, HapiFhirPostgresDialect.class.getName());
    // The hapiproject/hapi image also uses "update", so both can share a database.
    properties.put(AvailableSettings.HBM2DDL_AUTO, schemaAction);
    // The same naming strategies as Spring Boot's JPA defaults, which the HAPI starter image uses.
    properties.put(
        AvailableSettings.IMPLICIT_NAMING_STRATEGY, SpringImplicitNamingStrategy.class.getName());
    properties.put(
        AvailableSettings.PHYSICAL_NAMING_STRATEGY,
        CamelCaseToUnderscoresNamingStrategy.class.getName());
    properties.put(
        AvailableSettings.SCANNER, "org.hibernate.boot.archive.scan.internal.DisabledScanner");
    properties.put(AvailableSettings.STATEMENT_BATCH_SIZE, "20");
    properties.put(AvailableSettings.USE_SECOND_LEVEL_CACHE, "false");
    properties.put(AvailableSettings.USE_QUERY_CACHE, "false");
    properties.put(AvailableSettings.USE_STRUCTURED_CACHE, "false");
    properties.put(AvailableSettings.USE_MINIMAL_PUTS, "false");
    properties.put(AvailableSettings.SHOW_SQL, "false");
    properties.put(AvailableSettings.FORMAT_SQL, "false");
    // Hibernate Search (Lucene or Elasticsearch full-text indexing) is not used.
    properties.put(HibernateOrmMapperSettings.ENABLED, "false");
    return properties;
  }
}
