package org.brainregistry.hapi;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirPostgresDialect;
import jakarta.persistence.EntityManagerFactory;
import java.util.HashMap;
import java.util.Map;
import javax.sql.DataSource;
import org.hibernate.boot.model.naming.CamelCaseToUnderscoresNamingStrategy;
import org.hibernate.cfg.AvailableSettings;
import org.hibernate.search.mapper.orm.cfg.HibernateOrmMapperSettings;
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

  @Primary
  @Bean
  public LocalContainerEntityManagerFactoryBean entityManagerFactory(
      ConfigurableListableBeanFactory beanFactory,
      FhirContext fhirContext,
      JpaStorageSettings storageSettings,
      DataSource dataSource,
      @Value("${hibernate.hbm2ddl.auto:update}") String schemaAction) {
    LocalContainerEntityManagerFactoryBean factory =
        HapiEntityManagerFactoryUtil.newEntityManagerFactory(
            beanFactory, fhirContext, storageSettings);
    factory.setPersistenceUnitName("HAPI_PU");
    factory.setDataSource(dataSource);
    factory.setJpaPropertyMap(hibernateProperties(schemaAction));
    return factory;
  }

  @Primary
  @Bean
  public JpaTransactionManager transactionManager(EntityManagerFactory entityManagerFactory) {
    return new JpaTransactionManager(entityManagerFactory);
  }

  /**
   * Returns the Hibernate settings. HAPI's HibernatePropertiesProvider reads "hibernate.dialect"
   * from this map, so the dialect must be set here and not only detected from the connection.
   */
  private static Map<String, Object> hibernateProperties(String schemaAction) {
    Map<String, Object> properties = new HashMap<>();
    properties.put(AvailableSettings.DIALECT, HapiFhirPostgresDialect.class.getName());
    // "update" creates HAPI's tables in an empty database and adds missing ones later. The
    // hapiproject/hapi image does the same by default, so both can share a database.
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
